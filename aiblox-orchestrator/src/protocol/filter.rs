//! The `filter` of a query in its JSON form, and how it becomes the contract's
//! [`ItemFilter`]: a node is `{"and": [...]}`, `{"or": [...]}`, `{"not": {...}}`, or a
//! condition on one field: `{"field": "metadata.lang", "eq": "en"}`, `"in": [...]`, a range
//! (`"gt"`, `"gte"`, `"lt"`, `"lte"`, together as wanted) or `"exists": true`.

use aiblox_kb::{FieldTest, FilterBound, FilterValue, ItemField, ItemFilter};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::InvalidRequest;

/// Which items a query keeps, by what they say about themselves: `and`, `or` and `not` of
/// conditions, each on one `field` (`source`, `external_id`, `created_at`, `updated_at`, or
/// `metadata.` and the path of keys in the item's metadata) with one test: `eq`, `in`, a range
/// (`gt`, `gte`, `lt`, `lte`, numbers, or RFC 3339 times for the times) or `exists`. A key
/// absent from an item's metadata fails every test but a `not`'s; a key holding an array
/// passes a test when one of its elements does.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// Every one of these holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub and: Option<Vec<Filter>>,
    /// At least one of these holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub or: Option<Vec<Filter>>,
    /// This does not hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not: Option<Box<Filter>>,
    /// The field a condition tests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Equal to this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eq: Option<Scalar>,
    /// Equal to one of these.
    #[serde(default, rename = "in", skip_serializing_if = "Option::is_none")]
    pub any_of: Option<Vec<Scalar>>,
    /// Above this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gt: Option<Scalar>,
    /// At or above this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gte: Option<Scalar>,
    /// Below this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lt: Option<Scalar>,
    /// At or below this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lte: Option<Scalar>,
    /// Present (`true`) or absent (`false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exists: Option<bool>,
}

/// A value a field is compared with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Scalar {
    /// A boolean.
    Bool(bool),
    /// A number.
    Number(f64),
    /// A text (for a range, an RFC 3339 time such as `2024-05-01T00:00:00Z`).
    Text(String),
}

impl Filter {
    /// The contract's filter, checked by the contract's rules too; the error names the part at
    /// fault by its place (`filter.and[1].in`).
    pub fn to_item_filter(&self) -> Result<ItemFilter, InvalidRequest> {
        let filter = self.convert("filter").map_err(InvalidRequest::new)?;
        filter
            .validate()
            .map_err(|err| InvalidRequest::new(err.to_string()))?;
        Ok(filter)
    }

    fn convert(&self, at: &str) -> Result<ItemFilter, String> {
        let branches = [
            self.and.is_some(),
            self.or.is_some(),
            self.not.is_some(),
            self.field.is_some(),
        ];
        if branches.iter().filter(|given| **given).count() != 1 {
            return Err(format!(
                "`{at}` must hold exactly one of `and`, `or`, `not` or `field`"
            ));
        }
        if self.field.is_none() && self.tests_given().contains(&true) {
            return Err(format!(
                "`{at}` holds a test (`eq`, `in`, a range or `exists`) without its `field`: put \
                 the condition in an object of its own"
            ));
        }
        let each = |filters: &[Filter], word: &str| -> Result<Vec<ItemFilter>, String> {
            filters
                .iter()
                .enumerate()
                .map(|(index, filter)| filter.convert(&format!("{at}.{word}[{index}]")))
                .collect()
        };
        if let Some(filters) = &self.and {
            return Ok(ItemFilter::And(each(filters, "and")?));
        }
        if let Some(filters) = &self.or {
            return Ok(ItemFilter::Or(each(filters, "or")?));
        }
        if let Some(filter) = &self.not {
            return Ok(ItemFilter::Not(Box::new(
                filter.convert(&format!("{at}.not"))?,
            )));
        }
        let name = self.field.as_deref().unwrap_or_default();
        let field = field(name).ok_or_else(|| {
            format!(
                "`{at}.field` is `{name}`: use `source`, `external_id`, `created_at`, \
                 `updated_at` or `metadata.` and a key"
            )
        })?;
        let condition = ItemFilter::Where(field, self.test(at)?);
        Ok(match self.exists {
            Some(false) => ItemFilter::Not(Box::new(condition)),
            _ => condition,
        })
    }

    /// Which tests the node gives: `eq`, `in`, a range (any of its bounds), `exists`.
    fn tests_given(&self) -> [bool; 4] {
        let range = [&self.gt, &self.gte, &self.lt, &self.lte];
        [
            self.eq.is_some(),
            self.any_of.is_some(),
            range.iter().any(|bound| bound.is_some()),
            self.exists.is_some(),
        ]
    }

    /// The one test of a condition.
    fn test(&self, at: &str) -> Result<FieldTest, String> {
        if self.tests_given().iter().filter(|given| **given).count() != 1 {
            return Err(format!(
                "`{at}` must test its field with exactly one of `eq`, `in`, a range (`gt`, \
                 `gte`, `lt`, `lte`) or `exists`"
            ));
        }
        if let Some(value) = &self.eq {
            return Ok(FieldTest::Equals(value.to_value()));
        }
        if let Some(values) = &self.any_of {
            return Ok(FieldTest::In(values.iter().map(Scalar::to_value).collect()));
        }
        if self.exists.is_some() {
            return Ok(FieldTest::Exists);
        }
        let bound = |bound: &Option<Scalar>, word: &str| -> Result<Option<FilterBound>, String> {
            bound
                .as_ref()
                .map(|bound| {
                    bound
                        .to_bound()
                        .map_err(|why| format!("`{at}.{word}` {why}"))
                })
                .transpose()
        };
        Ok(FieldTest::Range {
            gt: bound(&self.gt, "gt")?,
            gte: bound(&self.gte, "gte")?,
            lt: bound(&self.lt, "lt")?,
            lte: bound(&self.lte, "lte")?,
        })
    }
}

impl Scalar {
    fn to_value(&self) -> FilterValue {
        match self {
            Scalar::Bool(value) => FilterValue::Bool(*value),
            Scalar::Number(number) => FilterValue::Number(*number),
            Scalar::Text(text) => FilterValue::Text(text.clone()),
        }
    }

    fn to_bound(&self) -> Result<FilterBound, String> {
        match self {
            Scalar::Number(number) => Ok(FilterBound::Number(*number)),
            Scalar::Text(text) => chrono::DateTime::parse_from_rfc3339(text)
                .map(|time| FilterBound::Time(time.to_utc()))
                .map_err(|_| {
                    "is a text that is not an RFC 3339 time (such as 2024-05-01T00:00:00Z)"
                        .to_owned()
                }),
            Scalar::Bool(_) => Err("is a boolean: a range takes numbers or times".to_owned()),
        }
    }
}

/// The field `name` names (`source`, `external_id`, `created_at`, `updated_at`, or
/// `metadata.` and a path of keys): filters and facets name fields alike.
pub(super) fn field(name: &str) -> Option<ItemField> {
    Some(match name {
        "source" => ItemField::Source,
        "external_id" => ItemField::ExternalId,
        "created_at" => ItemField::CreatedAt,
        "updated_at" => ItemField::UpdatedAt,
        _ => ItemFilter::metadata(name.strip_prefix("metadata.")?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn converted(json: serde_json::Value) -> Result<ItemFilter, String> {
        serde_json::from_value::<Filter>(json)
            .map_err(|err| err.to_string())?
            .to_item_filter()
            .map_err(|err| err.to_string())
    }

    #[test]
    fn the_json_form_becomes_the_contracts_filter() {
        let filter = converted(serde_json::json!({"and": [
            {"field": "metadata.lang", "eq": "en"},
            {"field": "metadata.version", "gte": 15, "lt": 17},
            {"not": {"field": "source", "in": ["a", "b"]}},
            {"field": "updated_at", "gte": "2024-05-01T00:00:00+02:00"},
            {"field": "metadata.draft", "exists": true},
            {"field": "metadata.gone", "exists": false}
        ]}))
        .unwrap();
        let time = chrono::DateTime::parse_from_rfc3339("2024-04-30T22:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            filter,
            ItemFilter::And(vec![
                ItemFilter::equals(
                    ItemFilter::metadata("lang"),
                    FilterValue::Text("en".to_owned())
                ),
                ItemFilter::Where(
                    ItemFilter::metadata("version"),
                    FieldTest::Range {
                        gt: None,
                        gte: Some(FilterBound::Number(15.0)),
                        lt: Some(FilterBound::Number(17.0)),
                        lte: None
                    }
                ),
                ItemFilter::Not(Box::new(ItemFilter::Where(
                    ItemField::Source,
                    FieldTest::In(vec![
                        FilterValue::Text("a".to_owned()),
                        FilterValue::Text("b".to_owned())
                    ])
                ))),
                ItemFilter::Where(
                    ItemField::UpdatedAt,
                    FieldTest::Range {
                        gt: None,
                        gte: Some(FilterBound::Time(time)),
                        lt: None,
                        lte: None
                    }
                ),
                ItemFilter::Where(ItemFilter::metadata("draft"), FieldTest::Exists),
                ItemFilter::Not(Box::new(ItemFilter::Where(
                    ItemFilter::metadata("gone"),
                    FieldTest::Exists
                ))),
            ])
        );
    }

    #[test]
    fn bad_filters_are_refused_naming_the_part() {
        for (json, expected) in [
            (
                serde_json::json!({"and": [{"field": "lang", "eq": "en"}]}),
                "`filter.and[0].field` is `lang`",
            ),
            (
                serde_json::json!({"field": "metadata.a", "eq": 1, "in": [1]}),
                "`filter` must test its field with exactly one of",
            ),
            (
                serde_json::json!({"field": "metadata.a", "and": []}),
                "`filter` must hold exactly one of",
            ),
            (
                serde_json::json!({"and": [], "exists": false}),
                "`filter` holds a test (`eq`, `in`, a range or `exists`) without its `field`",
            ),
            (
                serde_json::json!({"not": {"field": "created_at", "gt": "yesterday"}}),
                "`filter.not.gt` is a text that is not an RFC 3339 time",
            ),
            (
                serde_json::json!({"field": "metadata.a", "gt": true}),
                "is a boolean",
            ),
            (
                serde_json::json!({"field": "source", "eq": 3}),
                "the value must be a text",
            ),
            (
                serde_json::json!({"field": "metadata.a", "like": "x"}),
                "unknown field `like`",
            ),
            (
                serde_json::json!({"field": "metadata.", "exists": true}),
                "a metadata key is empty",
            ),
        ] {
            let err = converted(json).unwrap_err();
            assert!(err.contains(expected), "{expected}: {err}");
        }
    }
}
