//! The protocol's JSON Schemas, derived from its types: the OpenAPI document's components, and
//! the bounds a request is checked against (so a bound is declared once, on its field).

use std::sync::LazyLock;

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value};

use super::{
    BatchWrite, BatchWritten, ErrorBody, InvalidRequest, ItemResponse, ItemWrite, ItemWritten,
    QueryRequest, QueryResponse, SourceItems, SourcesResponse,
};

/// Where the OpenAPI document keeps its schemas.
const COMPONENTS: &str = "/components/schemas";

/// The schema of every body the API takes or gives, and of every type they name, by name: the
/// document's `components.schemas` (JSON Schema 2020-12, as OpenAPI 3.1 reads it).
pub(crate) fn components() -> Map<String, Value> {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|settings| {
            settings.definitions_path = COMPONENTS.into();
            settings.meta_schema = None;
        })
        .into_generator();
    generator.subschema_for::<QueryRequest>();
    generator.subschema_for::<QueryResponse>();
    generator.subschema_for::<ItemResponse>();
    generator.subschema_for::<SourcesResponse>();
    generator.subschema_for::<ItemWrite>();
    generator.subschema_for::<BatchWrite>();
    generator.subschema_for::<BatchWritten>();
    generator.subschema_for::<ItemWritten>();
    generator.subschema_for::<SourceItems>();
    generator.subschema_for::<ErrorBody>();
    generator.take_definitions(true)
}

/// A reference to `T`'s schema among the [`components`].
pub(crate) fn reference<T: JsonSchema>() -> Value {
    serde_json::json!({"$ref": format!("#{COMPONENTS}/{}", T::schema_name())})
}

/// The request's schema, made once.
static REQUEST: LazyLock<Value> = LazyLock::new(|| schemars::schema_for!(QueryRequest).to_value());

/// Checks `request` against the bounds its schema declares.
pub(super) fn check_request(request: &QueryRequest) -> Result<(), InvalidRequest> {
    let value = serde_json::to_value(request).expect("a request serializes");
    Bounds { root: &REQUEST }
        .check(&value, &REQUEST, "")
        .map_err(InvalidRequest::new)
}

/// The bounds of a root schema and the types it defines (`$defs`).
struct Bounds<'s> {
    root: &'s Value,
}

impl Bounds<'_> {
    /// `schema`, or the definition its `$ref` names.
    fn resolved<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|reference| reference.strip_prefix("#/$defs/"))
        {
            Some(name) => &self.root["$defs"][name],
            None => schema,
        }
    }

    /// Checks `value` against `schema`'s bounds, following `$ref` and, for `anyOf`, the
    /// alternatives of the value's type (the value passes when one of them bounds it in).
    fn check(&self, value: &Value, schema: &Value, at: &str) -> Result<(), String> {
        let schema = self.resolved(schema);
        let Some(alternatives) = schema.get("anyOf").and_then(Value::as_array) else {
            return within_bounds(value, schema, at, self);
        };
        let mut refusal = None;
        for alternative in alternatives {
            let alternative = self.resolved(alternative);
            if !of_type(value, alternative) {
                continue;
            }
            match self.check(value, alternative, at) {
                Ok(()) => return Ok(()),
                Err(why) => refusal = refusal.or(Some(why)),
            }
        }
        refusal.map_or(Ok(()), Err)
    }
}

/// Whether `schema` admits `value`'s JSON type (a schema without a type admits any).
fn of_type(value: &Value, schema: &Value) -> bool {
    let name = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(number) if number.is_i64() || number.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let admits = |kind: &Value| kind == name || (kind == "number" && name == "integer");
    match schema.get("type") {
        None => true,
        Some(Value::Array(kinds)) => kinds.iter().any(admits),
        Some(kind) => admits(kind),
    }
}

/// Checks `value` against the bounds `schema` declares (`minimum`, `maximum`, `minLength`,
/// `maxLength` in characters, `minItems`, `maxItems`), into its `properties` and `items`
/// (each checked by `bounds`, which follows references); what is out of bounds, named by its
/// path `at`. Types are not checked here: the request's deserialization did that.
fn within_bounds(
    value: &Value,
    schema: &Value,
    at: &str,
    bounds: &Bounds<'_>,
) -> Result<(), String> {
    match value {
        Value::Number(number) => {
            match outside(schema, number.as_f64().unwrap_or(0.0), "minimum", "maximum") {
                Some(range) => Err(format!("`{at}` is {number}; it must be {range}")),
                None => Ok(()),
            }
        }
        Value::String(text) => {
            let count = text.chars().count();
            match outside(schema, count as f64, "minLength", "maxLength") {
                Some(_) if count == 0 => Err(format!("`{at}` is empty")),
                Some(range) => Err(format!(
                    "`{at}` has {count} characters; it must have {range}"
                )),
                None => Ok(()),
            }
        }
        Value::Array(items) => {
            if let Some(range) = outside(schema, items.len() as f64, "minItems", "maxItems") {
                return Err(match items.len() {
                    0 => format!("`{at}` is empty: leave it out instead"),
                    count => format!("`{at}` has {count} entries; it must have {range}"),
                });
            }
            let each = schema.get("items").unwrap_or(&Value::Bool(true));
            items
                .iter()
                .enumerate()
                .try_for_each(|(index, item)| bounds.check(item, each, &format!("{at}[{index}]")))
        }
        Value::Object(fields) => {
            let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
                return Ok(());
            };
            fields
                .iter()
                .try_for_each(|(name, field)| match properties.get(name) {
                    Some(property) => bounds.check(field, property, &path(at, name)),
                    None => Ok(()),
                })
        }
        Value::Null | Value::Bool(_) => Ok(()),
    }
}

/// When `count` is outside the bounds `schema` names `low` and `high`: the bounds in words
/// (`1 to 50`, `at least 1`, `at most 50`), in the schema's own numbers.
fn outside(schema: &Value, count: f64, low: &str, high: &str) -> Option<String> {
    let (low, high) = (schema.get(low), schema.get(high));
    let number = |bound: Option<&Value>| bound.and_then(Value::as_f64);
    let below = number(low).is_some_and(|low| count < low);
    let above = number(high).is_some_and(|high| count > high);
    (below || above).then(|| match (low, high) {
        (Some(low), Some(high)) => format!("{low} to {high}"),
        (Some(low), None) => format!("at least {low}"),
        (None, high) => format!("at most {}", high.map(Value::to_string).unwrap_or_default()),
    })
}

/// The path of field `name` inside `at`.
fn path(at: &str, name: &str) -> String {
    if at.is_empty() {
        name.to_owned()
    } else {
        format!("{at}.{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bounds on a referenced type and on an optional value (`anyOf` with null) are checked
    /// too, so a bound added to a type the request names (a filter's) is held as documented.
    #[test]
    fn bounds_are_followed_through_references_and_alternatives() {
        let root = serde_json::json!({
            "properties": {
                "inner": {"anyOf": [{"$ref": "#/$defs/Inner"}, {"type": "null"}]},
                "list": {"type": "array", "items": {"$ref": "#/$defs/Inner"}}
            },
            "$defs": {"Inner": {"type": "object", "properties": {
                "n": {"type": "integer", "minimum": 1, "maximum": 3}}}}
        });
        let bounds = Bounds { root: &root };
        let check = |value: Value| bounds.check(&value, &root, "");
        assert_eq!(
            check(serde_json::json!({"inner": {"n": 2}, "list": [{"n": 3}]})),
            Ok(())
        );
        assert_eq!(check(serde_json::json!({"inner": null})), Ok(()));
        assert_eq!(
            check(serde_json::json!({"inner": {"n": 9}})),
            Err("`inner.n` is 9; it must be 1 to 3".to_owned())
        );
        assert_eq!(
            check(serde_json::json!({"list": [{"n": 1}, {"n": 0}]})),
            Err("`list[1].n` is 0; it must be 1 to 3".to_owned())
        );
    }
}
