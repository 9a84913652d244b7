//! `ItemRepo` against a real database: statuses, idempotence, odd and large contents, big
//! batches, concurrent writers, lookups and search.

use std::collections::HashMap;

use aiblox_kb::{Error, ItemRepo, NewItem, UpsertStatus};
use aiblox_kb_testkit::TestKb;
use serde_json::json;

use crate::count;

fn statuses(outcomes: &[aiblox_kb::UpsertOutcome]) -> Vec<UpsertStatus> {
    outcomes.iter().map(|outcome| outcome.status).collect()
}

#[tokio::test]
async fn upsert_reports_each_item_and_is_idempotent() {
    let kb = TestKb::new().await;
    let items = ItemRepo::new(kb.pool());
    let batch = vec![
        NewItem::new("docs", "a", "first text").with_title("A"),
        NewItem::new("docs", "b", "second text"),
        NewItem::new("wiki", "a", "same external id, other source")
            .with_metadata(json!({"lang": "en"})),
    ];

    let first = items.upsert(&batch).await.unwrap();
    assert_eq!(statuses(&first), [UpsertStatus::Inserted; 3]);
    let again = items.upsert(&batch).await.unwrap();
    assert_eq!(statuses(&again), [UpsertStatus::Unchanged; 3]);
    assert_eq!(
        again.iter().map(|o| o.id).collect::<Vec<_>>(),
        first.iter().map(|o| o.id).collect::<Vec<_>>()
    );
    assert_eq!(count(&kb, "item").await, 3, "no duplicates");

    // Each kind of change is an update; the rest of the batch stays unchanged.
    let before = items.get(first[0].id).await.unwrap().unwrap();
    let changed = vec![
        NewItem::new("docs", "a", "first text"), // title removed
        NewItem::new("docs", "b", "second text, edited"),
        NewItem::new("wiki", "a", "same external id, other source")
            .with_metadata(json!({"lang": "de"})),
        NewItem::new("docs", "c", "new"),
    ];
    let outcomes = items.upsert(&changed).await.unwrap();
    assert_eq!(
        statuses(&outcomes),
        [
            UpsertStatus::Updated,
            UpsertStatus::Updated,
            UpsertStatus::Updated,
            UpsertStatus::Inserted
        ]
    );
    let after = items.get(first[0].id).await.unwrap().unwrap();
    assert_eq!(after.title, None);
    assert_eq!(after.created_at, before.created_at);
    assert!(after.updated_at >= before.updated_at);
    let b = items.get(first[1].id).await.unwrap().unwrap();
    assert_eq!(b.content_hash, sha256_of("second text, edited"));
}

fn sha256_of(text: &str) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(text.as_bytes()).into()
}

#[tokio::test]
async fn null_titles_non_ascii_and_a_one_megabyte_content_round_trip() {
    let kb = TestKb::new().await;
    let items = ItemRepo::new(kb.pool());
    let non_ascii =
        "Ünïcödé: 日本語のテキスト, emoji 🦀, combining e\u{301}, RTL שלום, NBSP\u{a0}end";
    let big: String =
        (0..200_000).map(|i| format!("w{i:x} ")).collect::<String>()[..1_048_576].to_owned();
    let batch = vec![
        NewItem::new("docs", "no-title", "plain"),
        NewItem::new("docs", "ünï/パス.md", non_ascii)
            .with_title("Tïtle 🦀")
            .with_metadata(json!({"ключ": "значение"})),
        NewItem::new("docs", "big", big.clone()),
    ];
    let outcomes = items.upsert(&batch).await.unwrap();

    let fetched = items
        .get_many(&outcomes.iter().map(|o| o.id).collect::<Vec<_>>())
        .await
        .unwrap();
    let [Some(untitled), Some(unicode), Some(large)] = fetched.as_slice() else {
        panic!("all three items come back: {fetched:?}");
    };
    assert_eq!(untitled.title, None);
    assert_eq!(unicode.external_id, "ünï/パス.md");
    assert_eq!(unicode.content, non_ascii);
    assert_eq!(unicode.title.as_deref(), Some("Tïtle 🦀"));
    assert_eq!(unicode.metadata, json!({"ключ": "значение"}));
    assert_eq!(large.content.len(), 1_048_576);
    assert_eq!(large.content, big);
    assert_eq!(large.content_hash, sha256_of(&big));

    let hits = items.search("ÜNÏCÖDÉ שלום", None, 5).await.unwrap();
    assert_eq!(
        hits.first().map(|hit| hit.item.id),
        Some(unicode.id),
        "non-ASCII text is searchable"
    );
}

#[tokio::test]
async fn a_ten_thousand_item_batch_is_written_once() {
    let kb = TestKb::new().await;
    let items = ItemRepo::new(kb.pool());
    let batch: Vec<NewItem> = (0..10_000)
        .map(|i| {
            NewItem::new(
                ["wiki", "tickets", "docs", "chat"][i % 4],
                format!("doc-{i:07}"),
                format!("content number {i}"),
            )
        })
        .collect();

    let outcomes = items.upsert(&batch).await.unwrap();
    assert_eq!(outcomes.len(), 10_000);
    assert!(outcomes.iter().all(|o| o.status == UpsertStatus::Inserted));
    let again = items.upsert(&batch).await.unwrap();
    assert!(again.iter().all(|o| o.status == UpsertStatus::Unchanged));
    assert_eq!(
        again,
        outcomes
            .iter()
            .map(|o| aiblox_kb::UpsertOutcome {
                status: UpsertStatus::Unchanged,
                ..*o
            })
            .collect::<Vec<_>>()
    );
    assert_eq!(count(&kb, "item").await, 10_000);

    // Outcomes are in input order: each id reads back as its input.
    let probe = items.get(outcomes[6_789].id).await.unwrap().unwrap();
    assert_eq!(
        (probe.external_id.as_str(), probe.content.as_str()),
        ("doc-0006789", "content number 6789")
    );
}

#[tokio::test]
async fn concurrent_writers_of_the_same_keys_neither_fail_nor_duplicate() {
    let kb = TestKb::new().await;
    let keys = 500;
    for round in 0..4 {
        // Same keys, opposite orders; rounds alternate between identical and differing contents.
        let batch = |writer: usize| -> Vec<NewItem> {
            let mut batch: Vec<NewItem> = (0..keys)
                .map(|i| {
                    let content = if round % 2 == 0 {
                        format!("round {round} item {i}")
                    } else {
                        format!("round {round} writer {writer} item {i}")
                    };
                    NewItem::new("docs", format!("k{i}"), content)
                })
                .collect();
            if writer == 1 {
                batch.reverse();
            }
            batch
        };
        let (a, b) = (batch(0), batch(1));
        let repo = ItemRepo::new(kb.pool());
        let (first, second) = tokio::join!(repo.upsert(&a), repo.upsert(&b));
        let (first, second) = (first.unwrap(), second.unwrap());

        let mut ids: HashMap<String, i64> = HashMap::new();
        for (item, outcome) in a.iter().zip(&first).chain(b.iter().zip(&second)) {
            let id = *ids.entry(item.external_id.clone()).or_insert(outcome.id);
            assert_eq!(id, outcome.id, "both writers report one id per key");
        }
        if round == 0 {
            let inserted = first
                .iter()
                .chain(&second)
                .filter(|o| o.status == UpsertStatus::Inserted)
                .count();
            assert_eq!(inserted, keys, "each key is inserted exactly once");
        }
        assert_eq!(count(&kb, "item").await, keys as i64);
    }
}

#[tokio::test]
async fn lookups_answer_missing_ids_explicitly_and_delete_reports_existence() {
    let kb = TestKb::new().await;
    let items = ItemRepo::new(kb.pool());
    let ids: Vec<i64> = items
        .upsert(&[
            NewItem::new("docs", "a", "A"),
            NewItem::new("docs", "b", "B"),
        ])
        .await
        .unwrap()
        .iter()
        .map(|o| o.id)
        .collect();

    let many = items.get_many(&[ids[1], -5, ids[0], ids[1]]).await.unwrap();
    let contents: Vec<Option<&str>> = many
        .iter()
        .map(|item| item.as_ref().map(|i| i.content.as_str()))
        .collect();
    assert_eq!(contents, [Some("B"), None, Some("A"), Some("B")]);
    assert!(items.get_many(&[]).await.unwrap().is_empty());
    assert!(items.get(-5).await.unwrap().is_none());

    assert_eq!(
        items.get_by_key("docs", "b").await.unwrap().map(|i| i.id),
        Some(ids[1])
    );
    assert!(items.get_by_key("docs", "zzz").await.unwrap().is_none());
    assert!(items.get_by_key("other", "b").await.unwrap().is_none());

    assert!(items.delete(ids[0]).await.unwrap());
    assert!(!items.delete(ids[0]).await.unwrap());
    assert!(items.get(ids[0]).await.unwrap().is_none());
}

#[tokio::test]
async fn search_ranks_titles_first_and_filters_by_source() {
    let kb = TestKb::new().await;
    let items = ItemRepo::new(kb.pool());
    items
        .upsert(&[
            NewItem::new(
                "docs",
                "vacuum",
                "Reclaims storage occupied by dead tuples.",
            )
            .with_title("VACUUM"),
            NewItem::new(
                "wiki",
                "maintenance",
                "Run vacuum regularly; autovacuum usually does it for you.",
            ),
            NewItem::new("docs", "index", "B-tree indexes speed up lookups."),
        ])
        .await
        .unwrap();

    let hits = items.search("vacuum", None, 10).await.unwrap();
    let found: Vec<&str> = hits
        .iter()
        .map(|hit| hit.item.external_id.as_str())
        .collect();
    assert_eq!(
        found,
        ["vacuum", "maintenance"],
        "the title match ranks first"
    );
    assert!(hits[0].rank > hits[1].rank);

    let docs_only = items
        .search("vacuum", Some(&["docs".to_owned()]), 10)
        .await
        .unwrap();
    let docs_only: Vec<(&str, &str)> = docs_only
        .iter()
        .map(|hit| (hit.item.source.as_str(), hit.item.external_id.as_str()))
        .collect();
    assert_eq!(
        docs_only,
        [("docs", "vacuum")],
        "the wiki's vacuum page is left out"
    );
    assert_eq!(items.search("vacuum", None, 1).await.unwrap().len(), 1);
    assert!(
        items
            .search("\"dead tuples\" -index", None, 10)
            .await
            .unwrap()
            .iter()
            .all(|hit| hit.item.external_id == "vacuum")
    );
    assert!(
        items
            .search("nothing matches this", None, 10)
            .await
            .unwrap()
            .is_empty()
    );

    for (text, sources, limit, expected) in [
        ("  ", None, 10, "the search text is empty"),
        ("vacuum", None, 0, "out of range"),
        ("vacuum", None, 1001, "out of range"),
        ("vacuum", Some(vec![]), 10, "the source filter is empty"),
    ] {
        let err = items
            .search(text, sources.as_deref(), limit)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
        assert!(err.to_string().contains(expected), "{err}");
    }
}

#[tokio::test]
async fn an_invalid_batch_writes_nothing() {
    let kb = TestKb::new().await;
    let items = ItemRepo::new(kb.pool());
    let good = NewItem::new("docs", "good", "fine");
    for bad in [
        vec![
            good.clone(),
            NewItem::new("docs", "dup", "1"),
            NewItem::new("docs", "dup", "2"),
        ],
        vec![good.clone(), NewItem::new("docs", "nul", "a\0b")],
        vec![good.clone(), NewItem::new("", "empty-source", "x")],
        vec![
            good.clone(),
            NewItem::new("docs", "list", "x").with_metadata(json!(["not", "an", "object"])),
        ],
    ] {
        let err = items.upsert(&bad).await.unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
    }
    assert_eq!(count(&kb, "item").await, 0);
    assert!(items.upsert(&[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn any_word_search_finds_items_without_every_word_and_ranks_by_frequency() {
    let kb = TestKb::new().await;
    let items = ItemRepo::new(kb.pool());
    items
        .upsert(&[
            NewItem::new(
                "docs",
                "vacuum",
                "VACUUM reclaims storage. Run VACUUM after many deletes.",
            )
            .with_title("VACUUM"),
            NewItem::new("docs", "disk", "Disk usage grows with dead rows."),
            NewItem::new("wiki", "other", "Nothing relevant here."),
        ])
        .await
        .unwrap();
    let question = "how do I reclaim disk space with vacuum?";
    assert!(
        items.search(question, None, 10).await.unwrap().is_empty(),
        "plain search wants every word"
    );
    let hits = items.search_any_word(question, None, 10).await.unwrap();
    let found: Vec<&str> = hits
        .iter()
        .map(|hit| hit.item.external_id.as_str())
        .collect();
    assert_eq!(found, ["vacuum", "disk"]);
    // Each filter keeps its own source's page of the words and only it.
    for (source, expected) in [("wiki", "other"), ("docs", "vacuum")] {
        let hits = items
            .search_any_word("relevant vacuum", Some(&[source.to_owned()]), 10)
            .await
            .unwrap();
        let found: Vec<&str> = hits
            .iter()
            .map(|hit| hit.item.external_id.as_str())
            .collect();
        assert_eq!(found, [expected], "filtered on {source}");
    }
    assert!(
        items
            .search_any_word("?!- \"", None, 10)
            .await
            .unwrap()
            .is_empty(),
        "no word, no hit"
    );
    assert!(
        items
            .search_any_word("-vacuum | !disk & (", None, 10)
            .await
            .unwrap()
            .len()
            == 2,
        "operators are plain text"
    );
    let err = items.search_any_word("vacuum", None, 0).await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
}

#[tokio::test]
async fn heads_come_in_the_order_asked_without_missing_ids() {
    let kb = TestKb::new().await;
    let items = ItemRepo::new(kb.pool());
    let outcomes = items
        .upsert(&[
            NewItem::new("docs", "a", "first").with_title("A"),
            NewItem::new("wiki", "b", "second"),
        ])
        .await
        .unwrap();
    let (a, b) = (outcomes[0].id, outcomes[1].id);
    let heads = items.heads(&[b, a + b + 100, a]).await.unwrap();
    let seen: Vec<(i64, &str, &str, Option<&str>)> = heads
        .iter()
        .map(|h| {
            (
                h.id,
                h.source.as_str(),
                h.external_id.as_str(),
                h.title.as_deref(),
            )
        })
        .collect();
    assert_eq!(seen, [(b, "wiki", "b", None), (a, "docs", "a", Some("A"))]);
    let stored = items.get(a).await.unwrap().unwrap();
    assert_eq!(heads[1].content_hash, stored.content_hash);
    assert!(items.heads(&[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn sources_with_items_names_those_that_hold_one() {
    let kb = TestKb::new().await;
    let items = ItemRepo::new(kb.pool());
    items
        .upsert(&[
            NewItem::new("docs", "a", "text"),
            NewItem::new("wiki", "b", "text"),
        ])
        .await
        .unwrap();
    let asked = ["wiki", "nope", "docs"].map(str::to_owned);
    assert_eq!(
        items.sources_with_items(&asked).await.unwrap(),
        ["wiki", "docs"]
    );
    assert!(items.sources_with_items(&[]).await.unwrap().is_empty());
    let too_many: Vec<String> = (0..1_001).map(|n| n.to_string()).collect();
    assert!(matches!(
        items.sources_with_items(&too_many).await,
        Err(Error::InvalidInput { .. })
    ));
}

/// Page starts are stored with the item, read back by every read (get, get_many, get_by_key,
/// the heads of a BM25 search), count as a change on their own, and are checked on write: a
/// bad list fails its batch with a message naming the item, and writes nothing.
#[tokio::test]
async fn page_starts_are_stored_read_back_and_checked() {
    let kb = TestKb::new().await;
    let items = ItemRepo::new(kb.pool());
    let content = "First page about vacuum.\n\nSecond page about indexes.";
    let paged = NewItem::new("manuals", "guide.pdf", content).with_page_starts(vec![0, 26]);
    let id = items.upsert(std::slice::from_ref(&paged)).await.unwrap()[0].id;

    let item = items.get(id).await.unwrap().unwrap();
    assert_eq!(item.page_starts, Some(vec![0, 26]));
    assert_eq!(
        (item.page_at(0), item.page_at(25), item.page_at(26)),
        (Some(1), Some(1), Some(2))
    );
    let by_key = items
        .get_by_key("manuals", "guide.pdf")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_key.page_starts, Some(vec![0, 26]));
    assert_eq!(
        items.get_many(&[id]).await.unwrap()[0]
            .as_ref()
            .unwrap()
            .page_starts,
        Some(vec![0, 26])
    );
    items.merge_postings().await.unwrap();
    let found = items
        .search_bm25("indexes", None, None, 5, &aiblox_kb::Bm25::default())
        .await
        .unwrap();
    assert_eq!(found.items[0].page_starts, Some(vec![0, 26]));
    assert_eq!(found.items[0].page_at(30), Some(2));

    let same = items.upsert(std::slice::from_ref(&paged)).await.unwrap();
    assert_eq!(same[0].status, UpsertStatus::Unchanged);
    let moved = paged.clone().with_page_starts(vec![0, 24]);
    assert_eq!(
        items.upsert(&[moved]).await.unwrap()[0].status,
        UpsertStatus::Updated
    );
    // Pages changed alone: a search no longer shows the old ones (heads kept by version).
    let found = items
        .search_bm25("indexes", None, None, 5, &aiblox_kb::Bm25::default())
        .await
        .unwrap();
    assert_eq!(found.items[0].page_starts, Some(vec![0, 24]));
    let unpaged = NewItem::new("manuals", "guide.pdf", content);
    assert_eq!(
        items.upsert(&[unpaged]).await.unwrap()[0].status,
        UpsertStatus::Updated
    );
    assert_eq!(items.get(id).await.unwrap().unwrap().page_starts, None);

    for (starts, message) in [
        (vec![5, 26], "page_starts must begin with 0"),
        (vec![0, 30, 26], "must not decrease"),
        (vec![0, 400], "past the content's end"),
    ] {
        let bad = vec![
            NewItem::new("manuals", "other.pdf", "fine"),
            NewItem::new("manuals", "bad.pdf", content).with_page_starts(starts),
        ];
        match items.upsert(&bad).await {
            Err(Error::InvalidInput { message: got, .. }) => {
                assert!(
                    got.contains("item 1 (manuals, bad.pdf)") && got.contains(message),
                    "{got}"
                );
            }
            other => panic!("expected InvalidInput, got {other:?}"),
        }
    }
    assert!(
        items
            .get_by_key("manuals", "other.pdf")
            .await
            .unwrap()
            .is_none(),
        "nothing written"
    );
}

/// A source's keys come page by page in external id order, other sources' never; a batch
/// delete removes exactly the ids given (and says how many existed).
#[tokio::test]
async fn a_sources_keys_page_by_page_and_a_batch_delete() {
    let kb = TestKb::new().await;
    let items = ItemRepo::new(kb.pool());
    let mut batch: Vec<NewItem> = (0..25)
        .map(|n| NewItem::new("docs", format!("page-{n:02}"), format!("text {n}")))
        .collect();
    batch.push(NewItem::new("wiki", "page-00", "another source"));
    let ids: Vec<i64> = items
        .upsert(&batch)
        .await
        .unwrap()
        .iter()
        .map(|o| o.id)
        .collect();

    let mut listed = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = items
            .keys_of_source("docs", after.as_deref(), 10)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.1.clone());
        listed.extend(page);
    }
    let expected: Vec<(i64, String)> = (0..25).map(|n| (ids[n], format!("page-{n:02}"))).collect();
    assert_eq!(listed, expected);
    assert!(matches!(
        items.keys_of_source("docs", None, 0).await,
        Err(Error::InvalidInput { .. })
    ));

    assert_eq!(items.delete_many(&[ids[0], ids[1], -5]).await.unwrap(), 2);
    assert_eq!(
        items.keys_of_source("docs", None, 100).await.unwrap().len(),
        23
    );
    assert!(
        items.get(ids[25]).await.unwrap().is_some(),
        "the other source is untouched"
    );
    let digests = items
        .digests_of_source("docs", Some("page-20"), 3)
        .await
        .unwrap();
    assert_eq!(
        digests
            .iter()
            .map(|digest| (digest.id, digest.external_id.as_str()))
            .collect::<Vec<_>>(),
        [
            (ids[21], "page-21"),
            (ids[22], "page-22"),
            (ids[23], "page-23")
        ],
        "a source's digests in external id order, after the one given"
    );
    let stored = items.get(ids[21]).await.unwrap().unwrap();
    assert_eq!(
        (digests[0].content_hash, digests[0].updated_at),
        (stored.content_hash, stored.updated_at)
    );
    assert!(matches!(
        items.digests_of_source("docs", None, 10_001).await,
        Err(Error::InvalidInput { .. })
    ));
    assert_eq!(
        items.source_counts().await.unwrap(),
        [("docs".to_owned(), 23), ("wiki".to_owned(), 1)],
        "every source that holds items, counted, by name"
    );
    assert_eq!(items.delete_many(&[]).await.unwrap(), 0);
    assert!(items.delete_by_key("docs", "page-24").await.unwrap());
    assert!(!items.delete_by_key("docs", "page-24").await.unwrap());
    assert!(items.get(ids[24]).await.unwrap().is_none());
    assert!(
        items.get(ids[25]).await.unwrap().is_some(),
        "wiki's page-00 is another item"
    );
}
