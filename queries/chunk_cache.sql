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
        start_offset, end_offset, text, token_count, terms, term_frequencies, term_count)
    SELECT input.item_id, :chunker_key::text, input.chunk_index, input.chunk_count,
        input.content_hash, input.start_offset, input.end_offset, input.text, input.token_count,
        stats.terms, stats.term_frequencies, stats.term_count
    FROM input
    JOIN item ON item.id = input.item_id AND item.content_hash = input.content_hash
    -- The chunk's terms, computed once here (V0003): the `english` lexemes, in term order.
    CROSS JOIN LATERAL (
        SELECT coalesce(array_agg(u.lexeme ORDER BY u.lexeme), '{}') AS terms,
            coalesce(array_agg(cardinality(u.positions)::smallint ORDER BY u.lexeme), '{}')
                AS term_frequencies,
            coalesce(sum(cardinality(u.positions)), 0)::integer AS term_count
        FROM unnest(to_tsvector('english'::regconfig, input.text)) AS u
    ) AS stats
    ORDER BY input.item_id, input.chunk_index
    ON CONFLICT (item_id, chunker_key, chunk_index) DO UPDATE
    SET chunk_count = excluded.chunk_count,
        content_hash = excluded.content_hash,
        start_offset = excluded.start_offset,
        end_offset = excluded.end_offset,
        text = excluded.text,
        token_count = excluded.token_count,
        terms = excluded.terms,
        term_frequencies = excluded.term_frequencies,
        term_count = excluded.term_count,
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

--: ChunkTermList(terms?, term_frequencies?, term_count?)

--! chunk_terms : ChunkTermList
-- The term statistics of every chunk of the sets by `chunker_key` cached for (item_ids[n],
-- content_hashes[n]), computed when the sets were written: each chunk's terms (in term order),
-- their frequencies and its length in terms (NULL for chunks written before V0003). A set's
-- statistics never change for its content hash and chunker: a reader may keep them.
SELECT c.item_id, c.chunk_index, c.chunk_count, c.terms, c.term_frequencies, c.term_count
FROM unnest(:item_ids::bigint[], :content_hashes::bytea[]) AS k(item_id, content_hash)
CROSS JOIN LATERAL (
    SELECT x.item_id, x.chunk_index, x.chunk_count, x.terms, x.term_frequencies, x.term_count
    FROM chunk_cache AS x
    WHERE x.item_id = k.item_id AND x.chunker_key = :chunker_key
        AND x.content_hash = k.content_hash
    OFFSET 0
) AS c
ORDER BY c.item_id, c.chunk_index;
