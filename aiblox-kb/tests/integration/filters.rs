//! Filters against a brute-force oracle: a few hundred random filters over items with varied
//! and hostile metadata match exactly the items a plain Rust evaluation of the filter's rules
//! keeps; a filtered BM25 search holds only matches and equals the unfiltered ranking cut to
//! them; and hostile field names and values never reach SQL (the schema's items survive them).

use std::sync::Arc;

use aiblox_kb::{
    Bm25, FieldTest, FilterBound, FilterValue, ItemField, ItemFilter, ItemRepo, ItemSet, KbItem,
    NewItem,
};
use aiblox_kb_testkit::TestKb;
use chrono::{DateTime, Utc};
use proptest::prelude::*;
use proptest::strategy::ValueTree as _;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

/// Keys and texts that would break a filter spliced into SQL or jsonpath text.
const HOSTILE: [&str; 6] = [
    "a\"b",
    "x\\y",
    "$.z",
    "'; DROP TABLE item; --",
    "line\nbreak",
    "ünï ✓",
];

/// Sixty items with metadata that varies by item: present or absent keys, arrays, numbers
/// as integers and fractions, texts, booleans, nested objects, hostile keys and values.
fn corpus() -> Vec<NewItem> {
    (0..60)
        .map(|n: usize| {
            let mut metadata = serde_json::Map::new();
            let langs = ["en", "de", "fr"];
            match n % 5 {
                0 => {}
                1 => {
                    metadata.insert("lang".into(), json!([langs[n % 3], langs[(n + 1) % 3]]));
                }
                _ => {
                    metadata.insert("lang".into(), json!(langs[n % 3]));
                }
            }
            if !n.is_multiple_of(4) {
                let version = if n.is_multiple_of(3) {
                    json!(10 + n % 7)
                } else {
                    json!(10.5 + (n % 7) as f64)
                };
                metadata.insert("version".into(), version);
            } else if n.is_multiple_of(8) {
                metadata.insert("version".into(), json!("15"));
            }
            if n % 3 != 1 {
                metadata.insert("draft".into(), json!(n.is_multiple_of(2)));
            }
            metadata.insert(
                "product".into(),
                json!({"name": HOSTILE[n % HOSTILE.len()], "tier": n % 3}),
            );
            metadata.insert(HOSTILE[n % HOSTILE.len()].into(), json!(n % 2));
            if n.is_multiple_of(7) {
                metadata.insert("gone".into(), Value::Null);
            }
            NewItem::new(
                ["docs", "wiki", "a\"b"][n % 3],
                format!("page-{n}"),
                format!(
                    "vacuum and index text number {n} {}",
                    "vacuum ".repeat(n % 4)
                ),
            )
            .with_metadata(Value::Object(metadata))
        })
        .collect()
}

fn text(value: &str) -> FilterValue {
    FilterValue::Text(value.to_owned())
}

/// A random value: texts the corpus holds (and not), numbers, booleans.
fn value() -> impl Strategy<Value = FilterValue> {
    prop_oneof![
        4 => prop::sample::select(vec!["en", "de", "fr", "es", "15", "docs", "wiki", "page-3"])
            .prop_map(text),
        2 => prop::sample::select(HOSTILE.to_vec()).prop_map(text),
        2 => (8_i32..20).prop_map(|n| FilterValue::Number(f64::from(n))),
        2 => (8_i32..20).prop_map(|n| FilterValue::Number(f64::from(n) + 0.5)),
        2 => any::<bool>().prop_map(FilterValue::Bool),
    ]
}

/// A random field: the item's own, metadata keys the corpus holds (and not), nested, hostile.
fn field() -> impl Strategy<Value = ItemField> {
    prop_oneof![
        1 => Just(ItemField::Source),
        1 => Just(ItemField::ExternalId),
        1 => Just(ItemField::CreatedAt),
        1 => Just(ItemField::UpdatedAt),
        8 => prop::sample::select(vec!["lang", "lang", "version", "version", "draft", "gone", "missing"])
            .prop_map(|key| ItemField::Metadata(vec![key.to_owned()])),
        2 => prop::sample::select(vec!["name", "tier"])
            .prop_map(|key| ItemField::Metadata(vec!["product".to_owned(), key.to_owned()])),
        2 => prop::sample::select(HOSTILE.to_vec())
            .prop_map(|key| ItemField::Metadata(vec![key.to_owned()])),
    ]
}

/// A test that suits the field (the contract refuses the others).
fn condition() -> impl Strategy<Value = ItemFilter> {
    let bound = |time: bool| {
        (8_i32..20, -3_600_i64..3_600).prop_map(move |(n, seconds)| {
            // Times around now, when the corpus was written: before some items or none.
            if time {
                FilterBound::Time(Utc::now() + chrono::Duration::seconds(seconds))
            } else {
                FilterBound::Number(f64::from(n) + 0.25)
            }
        })
    };
    (
        field(),
        value(),
        prop::collection::vec(value(), 0..4),
        proptest::option::of(bound(false)),
        proptest::option::of(bound(false)),
        0_u8..4,
        proptest::option::of(bound(true)),
    )
        .prop_map(|(field, value, values, low, high, kind, time)| {
            let textual = matches!(field, ItemField::Source | ItemField::ExternalId);
            let timed = matches!(field, ItemField::CreatedAt | ItemField::UpdatedAt);
            let as_text = |value: FilterValue| match value {
                FilterValue::Text(_) => value,
                other => text(&format!("{other:?}")),
            };
            let test = match kind {
                _ if timed => FieldTest::Range {
                    gt: None,
                    gte: time.or(Some(FilterBound::Time(Utc::now()))),
                    lt: None,
                    lte: None,
                },
                0 if textual => FieldTest::Equals(as_text(value)),
                1 if textual => FieldTest::In(values.into_iter().map(as_text).collect()),
                0 => FieldTest::Equals(value),
                1 => FieldTest::In(values),
                2 if !textual && (low.is_some() || high.is_some()) => FieldTest::Range {
                    gt: low,
                    gte: None,
                    lt: None,
                    lte: high,
                },
                _ => FieldTest::Exists,
            };
            ItemFilter::Where(field, test)
        })
}

fn filter() -> impl Strategy<Value = ItemFilter> {
    condition().prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            4 => prop::collection::vec(inner.clone(), 1..4).prop_map(ItemFilter::And),
            4 => prop::collection::vec(inner.clone(), 1..4).prop_map(ItemFilter::Or),
            2 => inner.prop_map(|filter| ItemFilter::Not(Box::new(filter))),
            1 => prop::collection::vec(condition(), 0..1).prop_map(ItemFilter::And),
            1 => prop::collection::vec(condition(), 0..1).prop_map(ItemFilter::Or),
        ]
    })
}

/// The values at a field of an item: none when absent; an array's elements (as filters read
/// arrays); the item's times as seconds since 1970.
fn values_at(item: &KbItem, field: &ItemField) -> Option<Vec<Value>> {
    let seconds = |time: DateTime<Utc>| {
        json!(time.timestamp() as f64 + f64::from(time.timestamp_subsec_micros()) / 1e6)
    };
    let found = match field {
        ItemField::Source => json!(item.source),
        ItemField::ExternalId => json!(item.external_id),
        ItemField::CreatedAt => seconds(item.created_at),
        ItemField::UpdatedAt => seconds(item.updated_at),
        ItemField::Metadata(keys) => {
            let mut at = &item.metadata;
            for key in keys {
                at = at.as_object()?.get(key)?;
            }
            at.clone()
        }
        other => panic!("a field this test does not know: {other:?}"),
    };
    Some(match found {
        Value::Array(elements) => elements,
        one => vec![one],
    })
}

fn equal(found: &Value, value: &FilterValue) -> bool {
    match (found, value) {
        (Value::String(found), FilterValue::Text(text)) => found == text,
        (Value::Number(found), FilterValue::Number(number)) => found.as_f64() == Some(*number),
        (Value::Bool(found), FilterValue::Bool(value)) => found == value,
        _ => false,
    }
}

fn within(found: &Value, test: &FieldTest) -> bool {
    let FieldTest::Range { gt, gte, lt, lte } = test else {
        unreachable!()
    };
    let Some(number) = found.as_f64().filter(|_| found.is_number()) else {
        return false;
    };
    let bound = |bound: &FilterBound| match bound {
        FilterBound::Number(number) => *number,
        FilterBound::Time(time) => {
            time.timestamp() as f64 + f64::from(time.timestamp_subsec_micros()) / 1e6
        }
        other => panic!("a bound this test does not know: {other:?}"),
    };
    gt.as_ref().is_none_or(|b| number > bound(b))
        && gte.as_ref().is_none_or(|b| number >= bound(b))
        && lt.as_ref().is_none_or(|b| number < bound(b))
        && lte.as_ref().is_none_or(|b| number <= bound(b))
}

/// The oracle: the filter's rules, evaluated in Rust on the item as the contract reads it.
fn keeps(filter: &ItemFilter, item: &KbItem) -> bool {
    match filter {
        ItemFilter::And(filters) => filters.iter().all(|filter| keeps(filter, item)),
        ItemFilter::Or(filters) => filters.iter().any(|filter| keeps(filter, item)),
        ItemFilter::Not(filter) => !keeps(filter, item),
        ItemFilter::Where(field, test) => {
            let Some(found) = values_at(item, field) else {
                return false;
            };
            match test {
                FieldTest::Exists => true,
                FieldTest::Equals(value) => found.iter().any(|found| equal(found, value)),
                FieldTest::In(values) => found
                    .iter()
                    .any(|found| values.iter().any(|value| equal(found, value))),
                range => found.iter().any(|found| within(found, range)),
            }
        }
        other => panic!("a filter this test does not know: {other:?}"),
    }
}

#[test]
fn random_filters_match_exactly_what_the_rules_keep() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let kb = runtime.block_on(TestKb::new());
    let repo = ItemRepo::new(kb.pool());
    let items: Vec<KbItem> = runtime.block_on(async {
        let written = repo.upsert(&corpus()).await.unwrap();
        let ids: Vec<i64> = written.iter().map(|outcome| outcome.id).collect();
        repo.get_many(&ids)
            .await
            .unwrap()
            .into_iter()
            .map(Option::unwrap)
            .collect()
    });
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        proptest::test_runner::TestRng::deterministic_rng(
            proptest::test_runner::RngAlgorithm::ChaCha,
        ),
    );
    let strategy = filter();
    let mut nonempty = 0;
    for _ in 0..300 {
        let filter = strategy.new_tree(&mut runner).unwrap().current();
        let expected: Vec<i64> = items
            .iter()
            .filter(|item| keeps(&filter, item))
            .map(|item| item.id)
            .collect();
        let matched = runtime
            .block_on(repo.matching(&filter))
            .unwrap_or_else(|err| panic!("{filter:?}: {err}"));
        assert_eq!(
            matched.ids(),
            ItemSet::new(expected.clone()).ids(),
            "{filter:?}"
        );
        if !expected.is_empty() && expected.len() < items.len() {
            nonempty += 1;
        }
    }
    assert!(
        nonempty > 60,
        "only {nonempty} filters kept some items but not all"
    );
    runtime.block_on(async {
        assert_eq!(
            crate::count(&kb, "item").await,
            60,
            "hostile texts wrote nothing"
        );
    });
}

#[tokio::test]
async fn a_filtered_search_is_the_ranking_cut_to_the_matches_and_kept_while_nothing_changes() {
    let kb = TestKb::new().await;
    let repo = ItemRepo::new(kb.pool());
    repo.upsert(&corpus()).await.unwrap();
    let filter = ItemFilter::And(vec![
        ItemFilter::equals(ItemFilter::metadata("lang"), text("en")),
        ItemFilter::Not(Box::new(ItemFilter::equals(
            ItemFilter::metadata("draft"),
            FilterValue::Bool(true),
        ))),
    ]);
    let matches = repo.matching(&filter).await.unwrap();
    assert!(!matches.is_empty());
    let every = repo
        .search_bm25("vacuum", None, None, 100, &Bm25::default())
        .await
        .unwrap();
    let filtered = repo
        .search_bm25("vacuum", None, Some(&matches), 100, &Bm25::default())
        .await
        .unwrap();
    let cut: Vec<(i64, f64)> = every
        .items
        .iter()
        .filter(|item| matches.contains(item.id))
        .map(|item| (item.id, item.score))
        .collect();
    let got: Vec<(i64, f64)> = filtered
        .items
        .iter()
        .map(|item| (item.id, item.score))
        .collect();
    assert_eq!(got, cut, "the same scores (IDF corpus-wide), only matches");
    assert_eq!(every.terms, filtered.terms);
    // Kept while no item is written: the same set, not read again; a statement that writes
    // no row (an unchanged upsert) keeps it too.
    let again = repo.matching(&filter).await.unwrap();
    assert!(Arc::ptr_eq(&matches, &again), "kept on the pool");
    repo.upsert(&corpus()).await.unwrap();
    let after_nothing = repo.matching(&filter).await.unwrap();
    assert!(
        Arc::ptr_eq(&matches, &after_nothing),
        "an unchanged upsert wrote nothing"
    );
    // A change of metadata alone is seen at once.
    let first = matches.ids()[0];
    let item = repo.get(first).await.unwrap().unwrap();
    repo.upsert(
        &[NewItem::new(&item.source, &item.external_id, &item.content)
            .with_metadata(json!({"lang": "de"}))],
    )
    .await
    .unwrap();
    let after = repo.matching(&filter).await.unwrap();
    assert!(!after.contains(first) && after.len() == matches.len() - 1);
    // A filter that keeps nothing finds nothing.
    let none = repo
        .matching(&ItemFilter::equals(
            ItemFilter::metadata("lang"),
            text("xx"),
        ))
        .await
        .unwrap();
    let found = repo
        .search_bm25("vacuum", None, Some(&none), 10, &Bm25::default())
        .await
        .unwrap();
    assert!(none.is_empty() && found.items.is_empty());
}

#[tokio::test]
async fn an_invalid_filter_is_refused_before_any_sql() {
    let kb = TestKb::new().await;
    let repo = ItemRepo::new(kb.pool());
    let deep = (0..12).fold(ItemFilter::And(vec![]), |inner, _| {
        ItemFilter::Not(Box::new(inner))
    });
    let err = repo.matching(&deep).await.unwrap_err();
    assert!(
        matches!(err, aiblox_kb::Error::InvalidInput { .. }),
        "{err}"
    );
}
