-- Queries on `item`. Names are unqualified: the connection's search_path picks the schema.
-- Every nullable column read is marked `?` in its row type; see docs/queries.md.

--: Item(title?)
--: ItemHit(title?)

--! upsert_items (titles[?]) : (id?)
-- Inserts or updates a batch in one round trip; a row whose title, content hash and metadata
-- are unchanged is not written. One output row per input row, in input order: `written` is
-- false for unchanged rows, `inserted` true for new ones. `id` is NULL only when a concurrent
-- writer inserted the same key after this statement's snapshot (the caller looks it up).
-- Rows are written in key order, so concurrent batches lock in the same order.
WITH input AS (
    SELECT *
    FROM unnest(
        :sources::text[], :external_ids::text[], :titles::text[], :contents::text[],
        :content_hashes::bytea[], :metadata::jsonb[]
    ) WITH ORDINALITY AS t(source, external_id, title, content, content_hash, metadata, ordinal)
),
written AS (
    INSERT INTO item AS i (source, external_id, title, content, content_hash, metadata)
    SELECT source, external_id, title, content, content_hash, metadata
    FROM input
    ORDER BY source, external_id
    ON CONFLICT (source, external_id) DO UPDATE
    SET title = excluded.title,
        content = excluded.content,
        content_hash = excluded.content_hash,
        metadata = excluded.metadata,
        updated_at = greatest(now(), i.created_at)
    WHERE (i.title, i.content_hash, i.metadata)
        IS DISTINCT FROM (excluded.title, excluded.content_hash, excluded.metadata)
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

--! get_item : Item
SELECT id, source, external_id, title, content, content_hash, metadata, created_at, updated_at
FROM item
WHERE id = :id;

--! get_items : Item
-- Rows in no particular order; ids that do not exist are absent.
SELECT id, source, external_id, title, content, content_hash, metadata, created_at, updated_at
FROM item
WHERE id = ANY(:ids::bigint[]);

--! get_item_by_key : Item
SELECT id, source, external_id, title, content, content_hash, metadata, created_at, updated_at
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
    i.id, i.source, i.external_id, i.title, i.content, i.content_hash, i.metadata,
    i.created_at, i.updated_at, ranked.rank
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
    i.id, i.source, i.external_id, i.title, i.content, i.content_hash, i.metadata,
    i.created_at, i.updated_at, ranked.rank
FROM ranked
JOIN item AS i ON i.id = ranked.id
ORDER BY ranked.rank DESC, i.id;

--: RankedItem(title?)

--! search_items_bm25 (sources?) : RankedItem
-- Items holding any term of a natural-language question, ranked by BM25 over the lexical index
-- (V0003): corpus-wide IDF, term frequency saturated by `k1`, length normalised by `b`, title
-- terms counted `title_weight` times. Best first, ties by id. Every row also carries the
-- question's terms (the `english` configuration's lexemes) and their IDF, in term order.
-- `sources` NULL means every source (IDF is always corpus-wide). Arithmetic stays in float8:
-- numeric `ln()` and division cost more than the index scan. Postings are read term by term
-- through LATERAL subqueries (`OFFSET 0` keeps them apart), so the plan is index scans even
-- on tables never analysed (a freshly loaded corpus: a join plan there scanned every posting,
-- 37 ms against 1.7 ms).
WITH question AS (
    SELECT u.lexeme AS term
    FROM unnest(to_tsvector('english'::regconfig, :question::text)) AS u
),
corpus AS (
    SELECT greatest(sum(s.items), 1)::float8 AS items,
        greatest(
            (sum(s.content_length) + :title_weight::float8 * sum(s.title_length))::float8
                / greatest(sum(s.items), 1),
            1.0
        ) AS average_length
    FROM item_term_stats AS s
),
terms AS (
    SELECT question.term,
        ln(1.0 + (corpus.items - d.df + 0.5::float8) / (d.df + 0.5::float8)) AS idf
    FROM question
    CROSS JOIN corpus
    CROSS JOIN LATERAL (
        SELECT count(*)::float8 AS df FROM item_term AS p WHERE p.term = question.term
    ) AS d
    WHERE d.df > 0
),
scored AS (
    SELECT p.item_id,
        sum(terms.idf * p.tf * (:k1::float8 + 1.0)
            / (p.tf + :k1::float8 * (1.0 - :b::float8 + :b::float8 * p.length / corpus.average_length))
        ) AS score
    FROM terms
    CROSS JOIN corpus
    CROSS JOIN LATERAL (
        SELECT x.item_id,
            x.content_tf + :title_weight::float8 * x.title_tf AS tf,
            x.content_length + :title_weight::float8 * x.title_length AS length
        FROM item_term AS x
        WHERE x.term = terms.term
        OFFSET 0
    ) AS p
    GROUP BY p.item_id
),
best AS (
    SELECT scored.item_id, scored.score
    FROM scored
    WHERE :sources::text[] IS NULL
        OR scored.item_id IN (SELECT id FROM item WHERE source = ANY(:sources::text[]))
    ORDER BY scored.score DESC, scored.item_id
    LIMIT :limit::bigint
)
SELECT i.id, i.source, i.external_id, i.title, i.content_hash, best.score,
    (SELECT array_agg(terms.term ORDER BY terms.term) FROM terms) AS terms,
    (SELECT array_agg(terms.idf ORDER BY terms.term) FROM terms) AS idfs
FROM best
CROSS JOIN LATERAL (
    SELECT item.id, item.source, item.external_id, item.title, item.content_hash
    FROM item
    WHERE item.id = best.item_id
    OFFSET 0
) AS i
ORDER BY best.score DESC, i.id;
