//! Facets: how many of a query's candidate items (found by its legs within its filter, before
//! the `top_k` cut) hold each value of the fields it names, as search engines count over a
//! query's matches.

use std::collections::HashMap;

use aiblox_kb::{ItemField, KbPool};
use serde_json::Value;

use super::lexical::{Candidate, ReadAt};
use crate::protocol::{FacetCounts, FacetValue, Facets, MAX_FACET_VALUES, Scalar};

/// The counts of `fields` over `candidates` (none when no field is named); metadata is read
/// in one round trip, only when a metadata field is named.
pub(crate) async fn count(
    pool: &KbPool,
    fields: &[ItemField],
    candidates: &[Candidate],
    at: ReadAt,
) -> Result<Option<Facets>, aiblox_kb::Error> {
    if fields.is_empty() {
        return Ok(None);
    }
    let metadata = if fields
        .iter()
        .any(|field| matches!(field, ItemField::Metadata(_)))
    {
        let ids: Vec<i64> = candidates.iter().map(|candidate| candidate.id).collect();
        at.items(pool).metadata_of(&ids).await?
    } else {
        HashMap::new()
    };
    Ok(Some(Facets {
        candidates: candidates.len(),
        fields: fields
            .iter()
            .map(|field| FacetCounts {
                field: field.name(),
                values: counted(field, candidates, &metadata),
            })
            .collect(),
    }))
}

/// The values of `field` over `candidates`, each counted once per candidate, most frequent
/// first, equal counts by their JSON text.
fn counted(
    field: &ItemField,
    candidates: &[Candidate],
    metadata: &HashMap<i64, Value>,
) -> Vec<FacetValue> {
    let mut counts: HashMap<String, (Scalar, usize)> = HashMap::new();
    for candidate in candidates {
        let mut seen: Vec<String> = Vec::new();
        for value in values_of(field, candidate, metadata) {
            let key = value.to_string();
            if seen.contains(&key) {
                continue;
            }
            let Some(scalar) = scalar(&value) else {
                continue;
            };
            counts.entry(key.clone()).or_insert((scalar, 0)).1 += 1;
            seen.push(key);
        }
    }
    let mut values: Vec<(String, Scalar, usize)> = counts
        .into_iter()
        .map(|(key, (value, count))| (key, value, count))
        .collect();
    values.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
    values
        .into_iter()
        .take(MAX_FACET_VALUES)
        .map(|(_, value, count)| FacetValue { value, count })
        .collect()
}

/// The field's values in one candidate, as filters read them (PostgreSQL's lax jsonpath):
/// arrays are looked into along the path and at its end; none when absent.
fn values_of(
    field: &ItemField,
    candidate: &Candidate,
    metadata: &HashMap<i64, Value>,
) -> Vec<Value> {
    let keys = match field {
        ItemField::Metadata(keys) => keys,
        ItemField::Source => return vec![Value::String(candidate.source.clone())],
        // The request's validation lets only these two through.
        _ => return Vec::new(),
    };
    let Some(found) = metadata.get(&candidate.id) else {
        return Vec::new();
    };
    let mut at: Vec<&Value> = vec![found];
    for key in keys {
        at = at
            .into_iter()
            .flat_map(|value| match value {
                Value::Array(elements) => elements.iter().collect(),
                value => vec![value],
            })
            .filter_map(|value| value.as_object()?.get(key))
            .collect();
    }
    at.into_iter()
        .flat_map(|value| match value {
            Value::Array(elements) => elements.clone(),
            value => vec![value.clone()],
        })
        .collect()
}

/// A text, number or boolean as the protocol gives it; other values are not counted.
fn scalar(value: &Value) -> Option<Scalar> {
    match value {
        Value::String(text) => Some(Scalar::Text(text.clone())),
        Value::Number(number) => number.as_f64().map(Scalar::Number),
        Value::Bool(value) => Some(Scalar::Bool(*value)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_are_looked_into_along_the_path_as_filters_do() {
        let candidate = |id: i64| Candidate {
            id,
            source: "docs".to_owned(),
            external_id: format!("{id}.md"),
            title: None,
            content_hash: [0; 32],
            score: 0.0,
            page_starts: None,
        };
        let metadata: HashMap<i64, Value> = [
            (
                1,
                serde_json::json!({"product": [{"version": 15}, {"version": [16, 15]}]}),
            ),
            (
                2,
                serde_json::json!({"product": {"version": 15}, "lang": "en"}),
            ),
            (3, serde_json::json!({"product": "none"})),
        ]
        .into();
        let field = ItemField::Metadata(vec!["product".to_owned(), "version".to_owned()]);
        let candidates = [candidate(1), candidate(2), candidate(3), candidate(4)];
        let counted = counted(&field, &candidates, &metadata);
        assert_eq!(
            counted,
            vec![
                FacetValue {
                    value: Scalar::Number(15.0),
                    count: 2
                },
                FacetValue {
                    value: Scalar::Number(16.0),
                    count: 1
                },
            ],
            "15 counted once per candidate"
        );
    }
}
