-- Queries on `chunk_cache`. A chunk set is valid only while its content_hash equals the
-- item's; readers ask for the hash they hold and treat an incomplete set as missing.

--: CachedChunk()

--! get_chunks : CachedChunk
-- The chunks of one item for one chunker, valid for `content_hash`, in order.
SELECT item_id, chunker_key, chunk_index, chunk_count, content_hash, start_offset, end_offset,
    text, token_count, created_at
FROM chunk_cache
WHERE item_id = :item_id AND chunker_key = :chunker_key AND content_hash = :content_hash
ORDER BY chunk_index;

--! get_chunks_for_items : CachedChunk
-- The chunks of many items in one round trip: pairs (item_ids[n], content_hashes[n]).
SELECT c.item_id, c.chunker_key, c.chunk_index, c.chunk_count, c.content_hash, c.start_offset,
    c.end_offset, c.text, c.token_count, c.created_at
FROM unnest(:item_ids::bigint[], :content_hashes::bytea[]) AS k(item_id, content_hash)
JOIN chunk_cache AS c
    ON c.item_id = k.item_id AND c.content_hash = k.content_hash AND c.chunker_key = :chunker_key
ORDER BY c.item_id, c.chunk_index;

--! put_chunks
-- Replaces the chunk sets of several items for one chunker, in one statement (readers see the
-- old set or the new one, never a mix). A set whose content_hash no longer matches its item,
-- or whose item is gone, is not written. Returns how many chunks were written and how many
-- chunks of longer old sets were removed.
WITH input AS (
    SELECT *
    FROM unnest(
        :item_ids::bigint[], :chunk_indexes::int[], :chunk_counts::int[],
        :content_hashes::bytea[], :start_offsets::int[], :end_offsets::int[], :texts::text[],
        :token_counts::int[]
    ) AS t(item_id, chunk_index, chunk_count, content_hash, start_offset, end_offset, text,
        token_count)
),
written AS (
    INSERT INTO chunk_cache AS c (item_id, chunker_key, chunk_index, chunk_count, content_hash,
        start_offset, end_offset, text, token_count)
    SELECT input.item_id, :chunker_key::text, input.chunk_index, input.chunk_count,
        input.content_hash, input.start_offset, input.end_offset, input.text, input.token_count
    FROM input
    JOIN item ON item.id = input.item_id AND item.content_hash = input.content_hash
    ORDER BY input.item_id, input.chunk_index
    ON CONFLICT (item_id, chunker_key, chunk_index) DO UPDATE
    SET chunk_count = excluded.chunk_count,
        content_hash = excluded.content_hash,
        start_offset = excluded.start_offset,
        end_offset = excluded.end_offset,
        text = excluded.text,
        token_count = excluded.token_count,
        created_at = now()
    RETURNING c.item_id, c.chunk_count
),
trimmed AS (
    DELETE FROM chunk_cache AS c
    USING (SELECT DISTINCT item_id, chunk_count FROM written) AS sets
    WHERE c.item_id = sets.item_id AND c.chunker_key = :chunker_key::text
        AND c.chunk_index >= sets.chunk_count
    RETURNING 1
)
SELECT
    (SELECT count(*) FROM written) AS chunks_written,
    (SELECT count(*) FROM trimmed) AS chunks_removed;

--! delete_stale_chunks
-- Removes every cached chunk whose content_hash no longer matches its item's.
DELETE FROM chunk_cache AS c
USING item AS i
WHERE c.item_id = i.id AND c.content_hash <> i.content_hash;

--! delete_chunks_of_other_chunkers
-- Removes every cached chunk made by a chunker other than `chunker_key` (old versions).
DELETE FROM chunk_cache
WHERE chunker_key <> :chunker_key;

--: ChunkTermHit(chunk_index?, chunk_length?, terms?, term_frequencies?)

--! chunk_term_hits : ChunkTermHit
-- For each (item_ids[n], content_hashes[n]) whose chunk set by `chunker_key` is cached for that
-- hash: one row per chunk holding any of `terms`, with the terms it holds (in term order), their
-- frequencies and the chunk's length in terms; or one row with NULLs when no chunk holds any.
-- Items whose set is missing or stale have no row. Reads the index only, never a chunk's text.
-- Every lookup is a LATERAL probe (`OFFSET 0` keeps it one), so the plan stays index probes
-- in a generic plan and on tables never analysed.
WITH sets AS (
    SELECT c.item_id, c.chunk_count
    FROM unnest(:item_ids::bigint[], :content_hashes::bytea[]) AS k(item_id, content_hash)
    CROSS JOIN LATERAL (
        SELECT x.item_id, x.chunk_count
        FROM chunk_cache AS x
        WHERE x.item_id = k.item_id AND x.chunker_key = :chunker_key AND x.chunk_index = 0
            AND x.content_hash = k.content_hash
        OFFSET 0
    ) AS c
),
hits AS (
    SELECT t.item_id, t.chunk_index, t.chunk_length,
        array_agg(t.term ORDER BY t.term) AS terms,
        array_agg(t.tf::integer ORDER BY t.term) AS term_frequencies
    FROM sets
    CROSS JOIN unnest(:terms::text[]) AS q(term)
    -- One index probe per (item, term), also in a generic plan: `OFFSET 0` keeps the planner
    -- from flattening it into a join that reads every posting of the item and filters
    -- (measured 4x slower once the statement's plan went generic).
    CROSS JOIN LATERAL (
        SELECT p.item_id, p.chunk_index, p.chunk_length, p.term, p.tf
        FROM chunk_term AS p
        WHERE p.item_id = sets.item_id AND p.chunker_key = :chunker_key AND p.term = q.term
        OFFSET 0
    ) AS t
    GROUP BY t.item_id, t.chunk_index, t.chunk_length
)
SELECT sets.item_id, sets.chunk_count, hits.chunk_index, hits.chunk_length, hits.terms,
    hits.term_frequencies
FROM sets
LEFT JOIN hits ON hits.item_id = sets.item_id
ORDER BY sets.item_id, hits.chunk_index;

--! get_chunks_at : CachedChunk
-- Single chunks: (item_ids[n], chunk_indexes[n]) of the set by `chunker_key` cached for
-- content_hashes[n]. Chunks that are absent or stale have no row.
SELECT c.item_id, c.chunker_key, c.chunk_index, c.chunk_count, c.content_hash, c.start_offset,
    c.end_offset, c.text, c.token_count, c.created_at
FROM unnest(:item_ids::bigint[], :chunk_indexes::int[], :content_hashes::bytea[])
    AS k(item_id, chunk_index, content_hash)
CROSS JOIN LATERAL (
    SELECT x.*
    FROM chunk_cache AS x
    WHERE x.item_id = k.item_id AND x.chunker_key = :chunker_key
        AND x.chunk_index = k.chunk_index AND x.content_hash = k.content_hash
    OFFSET 0
) AS c
ORDER BY c.item_id, c.chunk_index;

--! chunk_terms : ChunkTermHit
-- Every term of every chunk of the sets by `chunker_key` cached for (item_ids[n],
-- content_hashes[n]): one row per chunk holding any term, with all its terms (in term order),
-- their frequencies and the chunk's length in terms; or one row with NULLs for a set none of
-- whose chunks holds a term. Items whose set is missing or stale have no row. A set's
-- statistics never change for its content hash and chunker: a reader may keep them.
WITH sets AS (
    SELECT c.item_id, c.chunk_count
    FROM unnest(:item_ids::bigint[], :content_hashes::bytea[]) AS k(item_id, content_hash)
    CROSS JOIN LATERAL (
        SELECT x.item_id, x.chunk_count
        FROM chunk_cache AS x
        WHERE x.item_id = k.item_id AND x.chunker_key = :chunker_key AND x.chunk_index = 0
            AND x.content_hash = k.content_hash
        OFFSET 0
    ) AS c
),
chunks AS (
    SELECT t.item_id, t.chunk_index, t.chunk_length,
        array_agg(t.term ORDER BY t.term) AS terms,
        array_agg(t.tf::integer ORDER BY t.term) AS term_frequencies
    FROM sets
    CROSS JOIN LATERAL (
        SELECT p.item_id, p.chunk_index, p.chunk_length, p.term, p.tf
        FROM chunk_term AS p
        WHERE p.item_id = sets.item_id AND p.chunker_key = :chunker_key
        OFFSET 0
    ) AS t
    GROUP BY t.item_id, t.chunk_index, t.chunk_length
)
SELECT sets.item_id, sets.chunk_count, chunks.chunk_index, chunks.chunk_length, chunks.terms,
    chunks.term_frequencies
FROM sets
LEFT JOIN chunks ON chunks.item_id = sets.item_id
ORDER BY sets.item_id, chunks.chunk_index;
