//! The protocol's JSON Schemas, derived from its types: the OpenAPI document's components, and
//! the bounds a request is checked against (so a bound is declared once, on its field).

use std::sync::LazyLock;

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value};

use super::{ErrorBody, InvalidRequest, ItemResponse, QueryRequest, QueryResponse};

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
    within_bounds(&value, &REQUEST, "").map_err(InvalidRequest::new)
}

/// Checks `value` against the bounds `schema` declares (`minimum`, `maximum`, `minLength`,
/// `maxLength` in characters, `minItems`, `maxItems`), into its `properties` and `items`; what
/// is out of bounds, named by its path `at`. Types are not checked here: the request's
/// deserialization did that.
pub(crate) fn within_bounds(value: &Value, schema: &Value, at: &str) -> Result<(), String> {
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
                .try_for_each(|(index, item)| within_bounds(item, each, &format!("{at}[{index}]")))
        }
        Value::Object(fields) => {
            let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
                return Ok(());
            };
            fields
                .iter()
                .try_for_each(|(name, field)| match properties.get(name) {
                    Some(property) => within_bounds(field, property, &path(at, name)),
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
