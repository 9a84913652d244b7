-- Queries on `item`. Names are unqualified: the connection's search_path picks the schema.
-- Every nullable column read is marked `?` in its row type; see docs/queries.md.

--: Item(title?, page_starts?)
--: ItemHit(title?, page_starts?)
--: ItemMatches(ids?)

--! upsert_items (titles[?], page_starts[?]) : (id?)
-- Inserts or updates a batch in one round trip; a row whose title, content hash, metadata and
-- page starts are unchanged is not written. `page_starts` are array literals (`{0,812}`) or
-- NULL: an array of arrays must be rectangular, the items' page counts differ. One output row per input row, in input order: `written` is
-- false for unchanged rows, `inserted` true for new ones. `id` is NULL only when a concurrent
-- writer inserted the same key after this statement's snapshot (the caller looks it up).
-- Rows are written in key order, so concurrent batches lock in the same order.
WITH input AS (
    SELECT *
    FROM unnest(
        :sources::text[], :external_ids::text[], :titles::text[], :contents::text[],
        :content_hashes::bytea[], :metadata::jsonb[], :page_starts::text[]
    ) WITH ORDINALITY AS t(source, external_id, title, content, content_hash, metadata,
        page_starts, ordinal)
),
written AS (
    INSERT INTO item AS i (source, external_id, title, content, content_hash, metadata,
        page_starts)
    SELECT source, external_id, title, content, content_hash, metadata,
        page_starts::integer[]
    FROM input
    ORDER BY source, external_id
    ON CONFLICT (source, external_id) DO UPDATE
    SET title = excluded.title,
        content = excluded.content,
        content_hash = excluded.content_hash,
        metadata = excluded.metadata,
        page_starts = excluded.page_starts,
        updated_at = greatest(now(), i.created_at)
    WHERE (i.title, i.content_hash, i.metadata, i.page_starts)
        IS DISTINCT FROM (excluded.title, excluded.content_hash, excluded.metadata,
            excluded.page_starts)
    RETURNING i.id, i.source, i.external_id, (i.xmax = 0) AS inserted
)
SELECT
    input.ordinal,
    coalesce(written.id, existing.id) AS id,
    coalesce(written.inserted, false) AS inserted,
    (written.id IS NOT NULL) AS written
FROM input
LEFT JOIN written
    ON written.source = input.source AND written.external_id = input.external_id
LEFT JOIN item AS existing
    ON written.id IS NULL
    AND existing.source = input.source AND existing.external_id = input.external_id
ORDER BY input.ordinal;

-- Items are read with their metadata as text: the client parses it once (read as jsonb, the
-- driver checks the JSON and the contract parsed it again).
--! get_item : Item
SELECT id, source, external_id, title, content, content_hash, metadata::text AS metadata,
    created_at, updated_at, page_starts
FROM item
WHERE id = :id;

--! get_items : Item
-- Rows in no particular order; ids that do not exist are absent.
SELECT id, source, external_id, title, content, content_hash, metadata::text AS metadata,
    created_at, updated_at, page_starts
FROM item
WHERE id = ANY(:ids::bigint[]);

--! get_item_metadata
-- The metadata of these items (for facets); ids that do not exist are absent.
SELECT id, metadata::text AS metadata
FROM item
WHERE id = ANY(:ids::bigint[]);

--! get_item_by_key : Item
SELECT id, source, external_id, title, content, content_hash, metadata::text AS metadata,
    created_at, updated_at, page_starts
FROM item
WHERE source = :source AND external_id = :external_id;

--! get_item_ids_by_keys
-- Ids of the given (source, external_id) pairs that exist.
SELECT i.id, i.source, i.external_id
FROM unnest(:sources::text[], :external_ids::text[]) AS k(source, external_id)
JOIN item AS i ON i.source = k.source AND i.external_id = k.external_id;

--! delete_item
DELETE FROM item
WHERE id = :id;

--! delete_item_by_key
-- One item by its identity, in one statement (no lookup first: nothing can slip in between).
DELETE FROM item
WHERE source = :source AND external_id = :external_id;

--! delete_items
-- One statement for many (a prune of a source): chunks and vectors go with their items.
DELETE FROM item
WHERE id = ANY(:ids::bigint[]);

--! source_item_keys (after?)
-- The ids and external ids of one source's items in external id order, those after `after`
-- (keyset pagination on the (source, external_id) index), at most `limit`.
SELECT id, external_id
FROM item
WHERE source = :source AND (:after::text IS NULL OR external_id > :after::text)
ORDER BY external_id
LIMIT :limit::bigint;

--! source_item_digests (after?)
-- The ids, external ids, content hashes and update times of a source's items, in external id
-- order, those after `after`: what a sync client compares with its own copy (keyset pages on
-- the (source, external_id) index).
SELECT id, external_id, content_hash, updated_at
FROM item
WHERE source = :source AND (:after::text IS NULL OR external_id > :after::text)
ORDER BY external_id
LIMIT :limit::bigint;

--! source_counts
-- Every source and how many items it holds, by name (an index-only scan of the
-- (source, external_id) index when the visibility map allows).
SELECT source, count(*)::bigint AS items
FROM item
GROUP BY source
ORDER BY source;

--! sources_with_items
-- Which of `sources` hold at least one item, in the order given (each one probe of the
-- (source, external_id) index).
SELECT s.source
FROM unnest(:sources::text[]) WITH ORDINALITY AS s(source, position)
WHERE EXISTS (SELECT 1 FROM item AS i WHERE i.source = s.source)
ORDER BY s.position;

--! search_items (sources?) : ItemHit
-- Full-text search (websearch syntax), best first; `sources` NULL means every source.
-- Matches are ranked on (id, rank) alone; only the best `limit` rows are read in full (a sort
-- over whole rows would copy every match's content).
WITH ranked AS (
    SELECT i.id, ts_rank_cd(i.search_vector, q.query) AS rank
    FROM item AS i, websearch_to_tsquery('english'::regconfig, :query::text) AS q(query)
    WHERE i.search_vector @@ q.query
        AND (:sources::text[] IS NULL OR i.source = ANY(:sources::text[]))
    ORDER BY rank DESC, i.id
    LIMIT :limit::bigint
)
SELECT
    i.id, i.source, i.external_id, i.title, i.content, i.content_hash,
    i.metadata::text AS metadata,
    i.created_at, i.updated_at, i.page_starts, ranked.rank
FROM ranked
JOIN item AS i ON i.id = ranked.id
ORDER BY ranked.rank DESC, i.id;

--! search_items_any_word (sources?) : ItemHit
-- Items holding any word of a question (`:query` is those words OR-ed in websearch syntax),
-- ranked by term frequency (ts_rank: titles weigh more than contents), best first.
-- Ranked on (id, rank) alone, like search_items.
WITH ranked AS (
    SELECT i.id, ts_rank(i.search_vector, q.query) AS rank
    FROM item AS i, websearch_to_tsquery('english'::regconfig, :query::text) AS q(query)
    WHERE i.search_vector @@ q.query
        AND (:sources::text[] IS NULL OR i.source = ANY(:sources::text[]))
    ORDER BY rank DESC, i.id
    LIMIT :limit::bigint
)
SELECT
    i.id, i.source, i.external_id, i.title, i.content, i.content_hash,
    i.metadata::text AS metadata,
    i.created_at, i.updated_at, i.page_starts, ranked.rank
FROM ranked
JOIN item AS i ON i.id = ranked.id
ORDER BY ranked.rank DESC, i.id;

--! lexical_corpus (sources?)
-- The lexical index's corpus totals and version (the sum only grows: every statement that
-- changes the postings adds one), the terms of `question`: the lexemes of PostgreSQL's
-- `english` configuration, in term order, as the index holds them, and the numbers of the
-- `sources` that postings name (none when NULL).
SELECT coalesce(sum(s.version), 0)::bigint AS version,
    coalesce(sum(s.items), 0)::bigint AS items,
    coalesce(sum(s.title_length), 0)::bigint AS title_length,
    coalesce(sum(s.content_length), 0)::bigint AS content_length,
    array(
        SELECT u.lexeme FROM unnest(to_tsvector('english'::regconfig, :question::text)) AS u
    ) AS terms,
    array(
        SELECT x.id FROM item_source AS x WHERE x.source = ANY(:sources::text[])
    ) AS source_ids
FROM item_term_stats AS s;

--: LexicalPostings(block?, item_ids?, title_tfs?, content_tfs?, title_lengths?, content_lengths?, source_ids?, dead_item_ids?)

--! lexical_postings : LexicalPostings
-- The postings of `terms` (V0006): each block of a term in parallel arrays (items, frequencies
-- in title and content, lengths, source numbers) with the items whose postings in it are no
-- longer current, and one more row (`block` NULL) for the fresh items that hold the term, their
-- frequencies cut out of `search_vector` (the lexeme is marked with weight 'D', which stored
-- vectors never carry, in the vector or its title part, and filtered); the index's version in
-- the same snapshot; a term without postings has one row of NULLs. Each lookup is a LATERAL
-- probe (`OFFSET 0` keeps it one), so the plan stays index scans in a generic plan and on
-- tables never analysed.
SELECT q.term, p.block, p.item_ids, p.title_tfs, p.content_tfs, p.title_lengths,
    p.content_lengths, p.source_ids, p.dead_item_ids,
    (SELECT coalesce(sum(s.version), 0)::bigint FROM item_term_stats AS s) AS version
FROM unnest(:terms::text[]) AS q(term)
LEFT JOIN LATERAL (
    SELECT b.block, b.item_ids, b.title_tfs, b.content_tfs, b.title_lengths,
        b.content_lengths, b.source_ids,
        array(
            SELECT d.item_id FROM item_posting_dead AS d WHERE d.before_block > b.block
        ) AS dead_item_ids
    FROM item_posting AS b
    WHERE b.term = q.term
    UNION ALL
    SELECT NULL, array_agg(f.item_id), array_agg(f.title_tf), array_agg(f.content_tf),
        array_agg(f.title_length), array_agg(f.content_length), array_agg(f.source_id),
        '{}'
    FROM (
        SELECT i.id AS item_id, tf.title::smallint AS title_tf,
            (tf.every - tf.title)::smallint AS content_tf, t.title_length, t.content_length,
            s.id AS source_id
        FROM item_posting_fresh AS x
        CROSS JOIN LATERAL (
            SELECT item.id, item.source, item.search_vector
            FROM item
            WHERE item.id = x.item_id
            OFFSET 0
        ) AS i
        CROSS JOIN LATERAL (
            SELECT y.title_length, y.content_length
            FROM item_term AS y
            WHERE y.item_id = i.id
            OFFSET 0
        ) AS t
        CROSS JOIN LATERAL (
            SELECT z.id FROM item_source AS z WHERE z.source = i.source OFFSET 0
        ) AS s
        CROSS JOIN LATERAL (
            SELECT (
                SELECT coalesce(sum(cardinality(u.positions)), 0)
                FROM unnest(ts_filter(setweight(i.search_vector, 'D', ARRAY[q.term]), '{d}'))
                    AS u
            ) AS every, (
                SELECT coalesce(sum(cardinality(u.positions)), 0)
                FROM unnest(ts_filter(
                    setweight(ts_filter(i.search_vector, '{a}'), 'D', ARRAY[q.term]), '{d}'))
                    AS u
            ) AS title
            OFFSET 0
        ) AS tf
        WHERE i.search_vector @@ quote_literal(q.term)::tsquery
            AND tf.every > 0
    ) AS f
    HAVING count(*) > 0
) AS p ON true;

--! merge_fresh_postings
-- Writes the postings of up to `most_items` fresh items into blocks and returns how many it
-- took, 0 when none is fresh (V0006 `merge_fresh_item_postings`).
SELECT merge_fresh_item_postings(:most_items::integer) AS taken;

--! merge_postings (after?) : (last_term?)
-- Merges the blocks of up to `most_terms` terms after `after` (from the first when NULL) and
-- returns the last term looked at, NULL past the last one (V0006 `merge_item_postings`).
SELECT merge_item_postings(:after::text, :most_terms::integer) AS last_term;

--: ItemHead(title?, page_starts?)

--! get_item_heads : ItemHead
-- What a search result shows of items (no content), with the lexical index's version in the
-- same snapshot; ids that do not exist are absent.
SELECT i.id, i.source, i.external_id, i.title, i.content_hash, i.page_starts,
    (SELECT coalesce(sum(s.version), 0)::bigint FROM item_term_stats AS s) AS version
FROM unnest(:ids::bigint[]) AS k(id)
CROSS JOIN LATERAL (
    SELECT item.id, item.source, item.external_id, item.title, item.content_hash,
        item.page_starts
    FROM item
    WHERE item.id = k.id
    OFFSET 0
) AS i;

--! item_filter_matches : ItemMatches
-- The ids of the items a filter matches, and the version of the items they are of; NULL ids
-- when the version is still `known_version` (the caller kept them). `filter` is a jsonpath
-- predicate over `item_filter_document`.
SELECT v.version,
    CASE WHEN v.version = :known_version::bigint THEN NULL ELSE (
        SELECT coalesce(array_agg(i.id), '{}')
        FROM item AS i
        WHERE item_filter_document(i.source, i.external_id, i.created_at, i.updated_at,
                                   i.metadata) @@ :filter::text::jsonpath
    ) END AS ids
FROM (SELECT sum(version)::bigint AS version FROM item_facts_stats) AS v;

--! item_filter_matches_narrowed : ItemMatches
-- `item_filter_matches` for a filter whose every match passes `narrowing`, a jsonpath over the
-- metadata alone (the equalities the filter holds at its top) that the metadata's index
-- answers first.
SELECT v.version,
    CASE WHEN v.version = :known_version::bigint THEN NULL ELSE (
        SELECT coalesce(array_agg(i.id), '{}')
        FROM item AS i
        WHERE i.metadata @@ :narrowing::text::jsonpath
          AND item_filter_document(i.source, i.external_id, i.created_at, i.updated_at,
                                   i.metadata) @@ :filter::text::jsonpath
    ) END AS ids
FROM (SELECT sum(version)::bigint AS version FROM item_facts_stats) AS v;
