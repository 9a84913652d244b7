//! Facets: how many of a query's candidate items (found by its legs within its filter, before
//! the `top_k` cut) hold each value of the fields it names, as search engines count over a
//! query's matches.

use std::collections::HashMap;

use aiblox_kb::KbPool;
use serde_json::Value;

use super::lexical::{Candidate, items_now};
use crate::protocol::{FacetCounts, FacetField, FacetValue, Facets, MAX_FACET_VALUES, Scalar};

/// The counts of `fields` over `candidates` (none when no field is named); metadata is read
/// in one round trip, only when a metadata field is named.
pub(crate) async fn count(
    pool: &KbPool,
    fields: &[FacetField],
    candidates: &[Candidate],
) -> Result<Option<Facets>, aiblox_kb::Error> {
    if fields.is_empty() {
        return Ok(None);
    }
    let metadata = if fields
        .iter()
        .any(|field| matches!(field, FacetField::Metadata(_)))
    {
        let ids: Vec<i64> = candidates.iter().map(|candidate| candidate.id).collect();
        items_now(pool).await?.metadata_of(&ids).await?
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
    field: &FacetField,
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

/// The field's values in one candidate: an array's elements, a scalar alone, none when absent.
fn values_of(
    field: &FacetField,
    candidate: &Candidate,
    metadata: &HashMap<i64, Value>,
) -> Vec<Value> {
    let found = match field {
        FacetField::Source => Some(Value::String(candidate.source.clone())),
        FacetField::Metadata(keys) => metadata
            .get(&candidate.id)
            .and_then(|found| {
                keys.iter()
                    .try_fold(found, |at, key| at.as_object()?.get(key))
            })
            .cloned(),
    };
    match found {
        Some(Value::Array(elements)) => elements,
        Some(value) => vec![value],
        None => Vec::new(),
    }
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
