//! Filters on what items say about themselves ([`ItemFilter`]): their source, external id,
//! times and metadata; and the items one matches ([`ItemSet`]). A filter is a typed value: the
//! repositories check it and turn it into one jsonpath parameter of a fixed statement
//! (`queries/item.sql`, `item_filter_matches`), never into SQL text.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::Error;

/// Most conditions ([`ItemFilter::Where`]) in one filter.
pub const MAX_FILTER_CONDITIONS: usize = 64;
/// Deepest nesting of [`ItemFilter::And`], [`ItemFilter::Or`] and [`ItemFilter::Not`].
pub const MAX_FILTER_DEPTH: usize = 8;
/// Most values of one [`FieldTest::In`].
pub const MAX_FILTER_VALUES: usize = 1_000;
/// Longest text value or metadata key of a filter, in bytes.
pub const MAX_FILTER_TEXT_BYTES: usize = 1_024;
/// Most keys of a metadata path.
pub const MAX_METADATA_PATH_KEYS: usize = 8;
/// Largest magnitude of a number in a filter: 2^53, past which not every integer is a value of
/// a JSON number as read (a larger one would be compared after rounding).
pub const MAX_FILTER_NUMBER: f64 = 9_007_199_254_740_992.0;

/// Which items a search, a lookup or a count keeps, by what they say about themselves.
///
/// Conditions on metadata follow its JSON: a key that is absent, or holds a value of another
/// type, fails every test but [`ItemFilter::Not`]'s (so `Not(lang = "en")` keeps the items
/// without a `lang`); arrays are looked into (PostgreSQL's lax jsonpath): a key that holds an
/// array, or a path through an array of objects, passes a test when one of its elements does.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ItemFilter {
    /// Every one of these holds (none: every item).
    And(Vec<ItemFilter>),
    /// At least one of these holds (none: no item).
    Or(Vec<ItemFilter>),
    /// This does not hold.
    Not(Box<ItemFilter>),
    /// The field passes the test.
    Where(ItemField, FieldTest),
}

/// A field of an item a filter can test.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ItemField {
    /// Where it comes from (text).
    Source,
    /// Its id within its source (text).
    ExternalId,
    /// When it was first written (ranges of times).
    CreatedAt,
    /// When its title, content or metadata last changed (ranges of times).
    UpdatedAt,
    /// The value at this path of keys in its metadata (`["product", "version"]` is
    /// `metadata.product.version`).
    Metadata(Vec<String>),
}

/// What a field must be.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FieldTest {
    /// Equal to the value (texts and booleans exactly, numbers by value: `15` equals `15.0`).
    Equals(FilterValue),
    /// Equal to one of the values (none: no item).
    In(Vec<FilterValue>),
    /// Within the bounds given: numbers (metadata), or times (the item's `created_at` and
    /// `updated_at`; to range a time kept in metadata, keep it as seconds since 1970).
    Range {
        /// Above this.
        gt: Option<FilterBound>,
        /// At or above this.
        gte: Option<FilterBound>,
        /// Below this.
        lt: Option<FilterBound>,
        /// At or below this.
        lte: Option<FilterBound>,
    },
    /// Present (metadata; the item's own fields always are).
    Exists,
}

/// A value a field is compared with.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FilterValue {
    /// A text.
    Text(String),
    /// A number (finite).
    Number(f64),
    /// A boolean.
    Bool(bool),
}

/// A bound of a [`FieldTest::Range`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum FilterBound {
    /// A number (finite).
    Number(f64),
    /// A time.
    Time(DateTime<Utc>),
}

impl ItemFilter {
    /// `field` equal to `value`.
    pub fn equals(field: ItemField, value: FilterValue) -> ItemFilter {
        ItemFilter::Where(field, FieldTest::Equals(value))
    }

    /// The metadata path of keys `path` (`"product.version"`), split at its dots.
    pub fn metadata(path: &str) -> ItemField {
        ItemField::Metadata(path.split('.').map(str::to_owned).collect())
    }

    /// Checks the filter's bounds and types: [`Error::InvalidInput`] naming the part at fault
    /// (by its place: `filter.and[1]`). The limits (depth, conditions) apply to each member of
    /// an `And` at the top on its own, so that filters combined by `And` (a request's with its
    /// API key's) are each held to them, not their sum.
    pub fn validate(&self) -> Result<(), Error> {
        let members: Vec<(String, usize, &ItemFilter)> = match self {
            ItemFilter::And(filters) => filters
                .iter()
                .enumerate()
                .map(|(index, filter)| (format!("filter.and[{index}]"), 1, filter))
                .collect(),
            filter => vec![("filter".to_owned(), 0, filter)],
        };
        for (at, depth, member) in members {
            let mut conditions = 0;
            member
                .check(&mut conditions, depth, &at)
                .map_err(|message| Error::invalid(format!("the filter is refused: {message}")))?;
        }
        Ok(())
    }

    fn check(&self, conditions: &mut usize, depth: usize, at: &str) -> Result<(), String> {
        if depth > MAX_FILTER_DEPTH {
            return Err(format!(
                "{at} nests deeper than {MAX_FILTER_DEPTH} levels of and, or and not"
            ));
        }
        match self {
            ItemFilter::And(filters) | ItemFilter::Or(filters) => {
                let word = if matches!(self, ItemFilter::And(_)) {
                    "and"
                } else {
                    "or"
                };
                filters.iter().enumerate().try_for_each(|(index, filter)| {
                    filter.check(conditions, depth + 1, &format!("{at}.{word}[{index}]"))
                })
            }
            ItemFilter::Not(filter) => filter.check(conditions, depth + 1, &format!("{at}.not")),
            ItemFilter::Where(field, test) => {
                *conditions += 1;
                if *conditions > MAX_FILTER_CONDITIONS {
                    return Err(format!(
                        "it holds more than {MAX_FILTER_CONDITIONS} conditions"
                    ));
                }
                field.check(at)?;
                test.check(field, at)
            }
        }
    }

    /// The filter as a jsonpath predicate over an item's document (`item_filter_matches`):
    /// `{"source", "external_id", "created_at", "updated_at"` (seconds since 1970),
    /// `"metadata"}`. Every test is an `exists(...)`, true or false, so `!` is plain negation.
    pub(crate) fn jsonpath(&self) -> String {
        let mut path = String::new();
        self.write_jsonpath(&mut path);
        path
    }

    /// A jsonpath over the metadata alone that every match of the filter passes, when the
    /// filter holds equalities on metadata at its top (itself, or its `And`'s members): the
    /// metadata's index answers it first (`item_filter_matches_narrowed`). Lax jsonpath
    /// equality passes an array holding the value, as the filter does.
    pub(crate) fn narrowing(&self) -> Option<String> {
        let members = match self {
            ItemFilter::And(filters) => filters.as_slice(),
            filter => std::slice::from_ref(filter),
        };
        let mut parts = Vec::new();
        for member in members {
            let ItemFilter::Where(ItemField::Metadata(keys), test) = member else {
                continue;
            };
            let values = match test {
                FieldTest::Equals(value) => std::slice::from_ref(value),
                FieldTest::In(values) if !values.is_empty() => values.as_slice(),
                _ => continue,
            };
            let mut path = String::from("$");
            for key in keys {
                path.push('.');
                quote(key, &mut path);
            }
            let mut part = String::from("(");
            for (index, value) in values.iter().enumerate() {
                if index > 0 {
                    part.push_str(" || ");
                }
                part.push_str(&path);
                part.push_str(" == ");
                value.write_jsonpath(&mut part);
            }
            part.push(')');
            parts.push(part);
        }
        (!parts.is_empty()).then(|| parts.join(" && "))
    }

    fn write_jsonpath(&self, out: &mut String) {
        match self {
            ItemFilter::And(filters) | ItemFilter::Or(filters) if filters.is_empty() => {
                let every = matches!(self, ItemFilter::And(_));
                out.push_str(if every { "exists($)" } else { "!exists($)" });
            }
            ItemFilter::And(filters) | ItemFilter::Or(filters) => {
                let join = if matches!(self, ItemFilter::And(_)) {
                    " && "
                } else {
                    " || "
                };
                out.push('(');
                for (index, filter) in filters.iter().enumerate() {
                    if index > 0 {
                        out.push_str(join);
                    }
                    filter.write_jsonpath(out);
                }
                out.push(')');
            }
            ItemFilter::Not(filter) => {
                out.push_str("!(");
                filter.write_jsonpath(out);
                out.push(')');
            }
            ItemFilter::Where(field, test) => test.write_jsonpath(field, out),
        }
    }
}

impl ItemField {
    fn check(&self, at: &str) -> Result<(), String> {
        let ItemField::Metadata(keys) = self else {
            return Ok(());
        };
        if keys.is_empty() || keys.len() > MAX_METADATA_PATH_KEYS {
            return Err(format!(
                "{at}: a metadata path has 1 to {MAX_METADATA_PATH_KEYS} keys"
            ));
        }
        for key in keys {
            check_text(key, &format!("{at}: a metadata key"))?;
            if key.is_empty() {
                return Err(format!("{at}: a metadata key is empty"));
            }
        }
        Ok(())
    }

    /// Its name in messages and in the item's document.
    pub fn name(&self) -> String {
        match self {
            ItemField::Source => "source".to_owned(),
            ItemField::ExternalId => "external_id".to_owned(),
            ItemField::CreatedAt => "created_at".to_owned(),
            ItemField::UpdatedAt => "updated_at".to_owned(),
            ItemField::Metadata(keys) => format!("metadata.{}", keys.join(".")),
        }
    }

    fn is_time(&self) -> bool {
        matches!(self, ItemField::CreatedAt | ItemField::UpdatedAt)
    }

    fn write_jsonpath(&self, out: &mut String) {
        out.push('$');
        let mut key = |name: &str| {
            out.push('.');
            quote(name, out);
        };
        match self {
            ItemField::Metadata(keys) => {
                key("metadata");
                keys.iter().for_each(|name| key(name));
            }
            field => key(&field.name()),
        }
    }
}

impl FieldTest {
    fn check(&self, field: &ItemField, at: &str) -> Result<(), String> {
        let name = field.name();
        match self {
            FieldTest::Equals(value) => check_value(value, field, &format!("{at}: {name}")),
            FieldTest::In(values) => {
                if values.len() > MAX_FILTER_VALUES {
                    return Err(format!(
                        "{at}: `in` has {} values; the limit is {MAX_FILTER_VALUES}",
                        values.len()
                    ));
                }
                values.iter().enumerate().try_for_each(|(index, value)| {
                    check_value(value, field, &format!("{at}: {name} in[{index}]"))
                })
            }
            FieldTest::Range { gt, gte, lt, lte } => {
                let bounds = [gt, gte, lt, lte];
                if bounds.iter().all(|bound| bound.is_none()) {
                    return Err(format!("{at}: a range on {name} needs a bound"));
                }
                for bound in bounds.into_iter().flatten() {
                    match (bound, field) {
                        (FilterBound::Number(number), _) if !within_number_range(*number) => {
                            return Err(format!(
                                "{at}: a bound of {name} is not a number within \
                                 {MAX_FILTER_NUMBER}"
                            ));
                        }
                        (FilterBound::Number(_), field) if field.is_time() => {
                            return Err(format!(
                                "{at}: {name} takes times as bounds (RFC 3339), not numbers"
                            ));
                        }
                        (FilterBound::Time(_), ItemField::Metadata(_)) => {
                            return Err(format!(
                                "{at}: {name} takes numbers as bounds: times are ranged on \
                                 created_at and updated_at (keep a time in metadata as seconds \
                                 since 1970 to range it)"
                            ));
                        }
                        (_, ItemField::Source | ItemField::ExternalId) => {
                            return Err(format!(
                                "{at}: {name} is text: ranges are on numbers and times"
                            ));
                        }
                        _ => {}
                    }
                }
                Ok(())
            }
            FieldTest::Exists => Ok(()),
        }
    }

    fn write_jsonpath(&self, field: &ItemField, out: &mut String) {
        if let FieldTest::In(values) = self
            && values.is_empty()
        {
            out.push_str("!exists($)");
            return;
        }
        out.push_str("exists(");
        field.write_jsonpath(out);
        match self {
            FieldTest::Exists => {}
            FieldTest::Equals(value) => {
                out.push_str(" ? (@ == ");
                value.write_jsonpath(out);
                out.push(')');
            }
            FieldTest::In(values) => {
                out.push_str(" ? (");
                for (index, value) in values.iter().enumerate() {
                    if index > 0 {
                        out.push_str(" || ");
                    }
                    out.push_str("@ == ");
                    value.write_jsonpath(out);
                }
                out.push(')');
            }
            FieldTest::Range { gt, gte, lt, lte } => {
                out.push_str(" ? (");
                let bounds = [(gt, ">"), (gte, ">="), (lt, "<"), (lte, "<=")];
                let mut first = true;
                for (bound, operator) in bounds {
                    let Some(bound) = bound else { continue };
                    if !first {
                        out.push_str(" && ");
                    }
                    first = false;
                    bound.write_jsonpath(operator, out);
                }
                out.push(')');
            }
        }
        out.push(')');
    }
}

impl FilterValue {
    fn write_jsonpath(&self, out: &mut String) {
        match self {
            FilterValue::Text(text) => quote(text, out),
            FilterValue::Number(number) => number_literal(*number, out),
            FilterValue::Bool(value) => out.push_str(if *value { "true" } else { "false" }),
        }
    }
}

impl FilterBound {
    /// `@ operator bound`: times (the item's own fields) as seconds since 1970, as the item's
    /// document holds them, to the microsecond (PostgreSQL's): a bound between two microseconds
    /// is moved to the one that keeps the same items (up for `>=` and `<`, down for `>` and
    /// `<=`).
    fn write_jsonpath(&self, operator: &str, out: &mut String) {
        let number = match self {
            FilterBound::Number(number) => *number,
            FilterBound::Time(time) => {
                let nanos = time.timestamp_subsec_nanos();
                let up = matches!(operator, ">=" | "<") && !nanos.is_multiple_of(1_000);
                let micros = f64::from(nanos / 1_000 + u32::from(up));
                time.timestamp() as f64 + micros / 1_000_000.0
            }
        };
        let _ = write!(out, "@ {operator} ");
        number_literal(number, out);
    }
}

/// A text of a filter: at most [`MAX_FILTER_TEXT_BYTES`], no NUL character.
fn check_text(text: &str, what: &str) -> Result<(), String> {
    if text.len() > MAX_FILTER_TEXT_BYTES {
        return Err(format!(
            "{what} has {} bytes; the limit is {MAX_FILTER_TEXT_BYTES}",
            text.len()
        ));
    }
    if text.contains('\0') {
        return Err(format!("{what} contains a NUL character"));
    }
    Ok(())
}

fn check_value(value: &FilterValue, field: &ItemField, what: &str) -> Result<(), String> {
    if field.is_time() {
        return Err(format!(
            "{what}: times are tested with ranges (gt, gte, lt, lte), not values"
        ));
    }
    match value {
        FilterValue::Text(text) => check_text(text, &format!("{what}: a value")),
        FilterValue::Number(number) if !within_number_range(*number) => Err(format!(
            "{what}: a value is not a number within {MAX_FILTER_NUMBER} (a larger one would \
             be compared after rounding)"
        )),
        FilterValue::Number(_) | FilterValue::Bool(_)
            if matches!(field, ItemField::Source | ItemField::ExternalId) =>
        {
            Err(format!("{what}: the value must be a text"))
        }
        _ => Ok(()),
    }
}

fn within_number_range(number: f64) -> bool {
    number.is_finite() && number.abs() <= MAX_FILTER_NUMBER
}

/// `text` as a jsonpath string literal: quotes, backslashes and control characters escaped.
fn quote(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A finite number as a jsonpath numeric literal (no exponent: Rust prints every digit).
fn number_literal(number: f64, out: &mut String) {
    if number < 0.0 {
        // jsonpath reads `-` as a unary operator: keep it attached to the literal.
        let _ = write!(out, "({number})");
    } else {
        let _ = write!(out, "{number}");
    }
}

/// The items a filter matched, as of one version of the knowledge base: their ids, ascending.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemSet {
    ids: Box<[i64]>,
}

impl ItemSet {
    /// The set of these ids.
    pub fn new(mut ids: Vec<i64>) -> ItemSet {
        ids.sort_unstable();
        ids.dedup();
        ItemSet {
            ids: ids.into_boxed_slice(),
        }
    }

    /// Whether the item with this id is in the set.
    pub fn contains(&self, id: i64) -> bool {
        self.ids.binary_search(&id).is_ok()
    }

    /// How many items.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no item matched.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The ids, ascending.
    pub fn ids(&self) -> &[i64] {
        &self.ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lang(value: &str) -> ItemFilter {
        ItemFilter::equals(
            ItemFilter::metadata("lang"),
            FilterValue::Text(value.to_owned()),
        )
    }

    #[test]
    fn a_filter_is_one_jsonpath_with_every_text_quoted() {
        let filter = ItemFilter::And(vec![
            lang("en\" || exists($) || \"\\"),
            ItemFilter::Not(Box::new(ItemFilter::Where(
                ItemField::Metadata(vec!["a.b\n".to_owned()]),
                FieldTest::Range {
                    gt: Some(FilterBound::Number(-1.5)),
                    gte: None,
                    lt: None,
                    lte: Some(FilterBound::Number(15.0)),
                },
            ))),
            ItemFilter::Or(vec![]),
        ]);
        assert_eq!(
            filter.jsonpath(),
            r#"(exists($."metadata"."lang" ? (@ == "en\" || exists($) || \"\\")) && !(exists($."metadata"."a.b\u000a" ? (@ > (-1.5) && @ <= 15))) && !exists($))"#
        );
    }

    #[test]
    fn bad_filters_are_refused_naming_the_part() {
        let deep = (0..10).fold(lang("en"), |filter, _| ItemFilter::Not(Box::new(filter)));
        let cases = [
            (deep, "nests deeper than 8"),
            (
                ItemFilter::equals(
                    ItemFilter::metadata("id"),
                    FilterValue::Number(1_234_567_890_123_456_789.0),
                ),
                "not a number within",
            ),
            (
                ItemFilter::And(vec![lang("en"), lang("a\0")]),
                "filter.and[1]: metadata.lang: a value contains a NUL character",
            ),
            (
                ItemFilter::equals(ItemField::Source, FilterValue::Number(1.0)),
                "the value must be a text",
            ),
            (
                ItemFilter::equals(ItemField::CreatedAt, FilterValue::Text("x".to_owned())),
                "times are tested with ranges",
            ),
            (
                ItemFilter::Where(
                    ItemField::UpdatedAt,
                    FieldTest::Range {
                        gt: Some(FilterBound::Number(1.0)),
                        gte: None,
                        lt: None,
                        lte: None,
                    },
                ),
                "updated_at takes times as bounds",
            ),
            (
                ItemFilter::Where(
                    ItemFilter::metadata("published"),
                    FieldTest::Range {
                        gt: Some(FilterBound::Time(DateTime::UNIX_EPOCH)),
                        gte: None,
                        lt: None,
                        lte: None,
                    },
                ),
                "metadata.published takes numbers as bounds",
            ),
            (
                ItemFilter::Where(ItemField::Metadata(vec![]), FieldTest::Exists),
                "a metadata path has 1 to 8 keys",
            ),
            (
                ItemFilter::Or((0..65).map(|_| lang("en")).collect()),
                "more than 64 conditions",
            ),
        ];
        for (filter, expected) in cases {
            let err = filter.validate().unwrap_err().to_string();
            assert!(err.contains(expected), "{expected}: {err}");
        }
        lang("en").validate().unwrap();
    }

    #[test]
    fn equalities_on_metadata_at_the_top_narrow_through_the_index() {
        let version = ItemFilter::Where(
            ItemFilter::metadata("product.version"),
            FieldTest::In(vec![
                FilterValue::Number(15.0),
                FilterValue::Text("x".to_owned()),
            ]),
        );
        let filter = ItemFilter::And(vec![
            lang("en"),
            version,
            ItemFilter::Not(Box::new(lang("de"))),
            ItemFilter::equals(ItemField::Source, FilterValue::Text("docs".to_owned())),
        ]);
        assert_eq!(
            filter.narrowing().as_deref(),
            Some(
                r#"($."lang" == "en") && ($."product"."version" == 15 || $."product"."version" == "x")"#
            )
        );
        assert_eq!(ItemFilter::Or(vec![lang("en")]).narrowing(), None);
        assert_eq!(
            lang("en").narrowing().as_deref(),
            Some(r#"($."lang" == "en")"#)
        );
    }

    #[test]
    fn filters_anded_at_the_top_are_each_held_to_the_limits_and_times_round_to_the_microsecond() {
        let many = |count| ItemFilter::Or((0..count).map(|_| lang("en")).collect());
        ItemFilter::And(vec![many(60), many(60)])
            .validate()
            .unwrap();
        assert!(ItemFilter::And(vec![many(65)]).validate().is_err());
        let at = |nanos| DateTime::from_timestamp(1_700_000_000, nanos).unwrap();
        let bound = |operator, time| {
            let mut out = String::new();
            FilterBound::Time(time).write_jsonpath(operator, &mut out);
            out
        };
        assert_eq!(bound(">=", at(500)), "@ >= 1700000000.000001");
        assert_eq!(bound(">", at(500)), "@ > 1700000000");
        assert_eq!(bound("<", at(1_500)), "@ < 1700000000.000002");
        assert_eq!(bound("<=", at(2_000)), "@ <= 1700000000.000002");
    }

    #[test]
    fn a_set_answers_membership() {
        let set = ItemSet::new(vec![9, 3, 3, 7]);
        assert_eq!(set.ids(), [3, 7, 9]);
        assert!(set.contains(7) && !set.contains(8));
        assert_eq!((set.len(), ItemSet::default().is_empty()), (3, true));
    }
}
