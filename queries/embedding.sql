-- Queries on `chunk_embedding` and `embedding_claim` (V0004): dense vectors of cached chunks per
-- chunker and model, and the claims of the indexers that compute them.

--! claim_unembedded
-- Claims up to `max_items` items whose current content has neither vectors for the chunker and
-- model nor a live claim (another indexer at work, or done), for `lease_seconds`. Two indexers
-- running this at once never get the same item: the second one's insert waits for the first
-- one's row and then finds it live. Returns the items claimed and the content hash claimed.
WITH wanted AS (
    SELECT i.id, i.content_hash
    FROM item AS i
    WHERE NOT EXISTS (
        SELECT 1
        FROM chunk_embedding AS e
        WHERE e.item_id = i.id AND e.chunker_key = :chunker_key AND e.model_key = :model_key
            AND e.chunk_index = 0 AND e.content_hash = i.content_hash
    )
    AND NOT EXISTS (
        SELECT 1
        FROM embedding_claim AS c
        WHERE c.item_id = i.id AND c.chunker_key = :chunker_key AND c.model_key = :model_key
            AND c.content_hash = i.content_hash AND c.claimed_until > now()
    )
    ORDER BY i.id
    LIMIT :max_items::bigint
)
INSERT INTO embedding_claim AS c (item_id, chunker_key, model_key, content_hash, claimed_until)
SELECT wanted.id, :chunker_key::text, :model_key::text, wanted.content_hash,
    now() + make_interval(secs => :lease_seconds::double precision)
FROM wanted
ORDER BY wanted.id
ON CONFLICT (item_id, chunker_key, model_key) DO UPDATE
SET content_hash = excluded.content_hash, claimed_until = excluded.claimed_until
WHERE c.claimed_until <= now() OR c.content_hash <> excluded.content_hash
RETURNING c.item_id, c.content_hash;

--! finish_claims
-- Marks the claimed contents (item_ids[n], content_hashes[n]) done for the chunker and model.
-- Returns how many claims it marked (a claim taken over meanwhile is not marked).
WITH done AS (
    UPDATE embedding_claim AS c
    SET claimed_until = 'infinity'
    FROM unnest(:item_ids::bigint[], :content_hashes::bytea[]) AS k(item_id, content_hash)
    WHERE c.item_id = k.item_id AND c.chunker_key = :chunker_key AND c.model_key = :model_key
        AND c.content_hash = k.content_hash
    RETURNING 1
)
SELECT count(*) AS marked FROM done;

--! put_embeddings
-- Replaces the vectors of several items' chunk sets for one chunker and model in one statement.
-- A set whose content_hash no longer matches its item, or whose item is gone, is not written.
-- Returns how many vectors were written and how many of longer old sets were removed.
WITH input AS (
    SELECT *
    FROM unnest(
        :item_ids::bigint[], :chunk_indexes::int[], :chunk_counts::int[],
        :content_hashes::bytea[], :vectors::bytea[]
    ) AS t(item_id, chunk_index, chunk_count, content_hash, vector)
),
written AS (
    INSERT INTO chunk_embedding AS e (item_id, chunker_key, model_key, chunk_index, chunk_count,
        content_hash, vector)
    SELECT input.item_id, :chunker_key::text, :model_key::text, input.chunk_index,
        input.chunk_count, input.content_hash, input.vector
    FROM input
    JOIN item ON item.id = input.item_id AND item.content_hash = input.content_hash
    ORDER BY input.item_id, input.chunk_index
    ON CONFLICT (item_id, chunker_key, model_key, chunk_index) DO UPDATE
    SET chunk_count = excluded.chunk_count,
        content_hash = excluded.content_hash,
        vector = excluded.vector,
        written_by = pg_current_xact_id()::text::bigint
    RETURNING e.item_id, e.chunk_count
),
trimmed AS (
    DELETE FROM chunk_embedding AS e
    USING (SELECT DISTINCT item_id, chunk_count FROM written) AS sets
    WHERE e.item_id = sets.item_id AND e.chunker_key = :chunker_key::text
        AND e.model_key = :model_key::text AND e.chunk_index >= sets.chunk_count
    RETURNING 1
)
SELECT
    (SELECT count(*) FROM written) AS vectors_written,
    (SELECT count(*) FROM trimmed) AS vectors_removed;

--: StoredEmbedding(item_id?, chunk_index?, chunk_count?, content_hash?, vector?, source?, written_by?)

--! embeddings_since : StoredEmbedding
-- The vectors for the chunker and model written by transactions from `from_transaction` on
-- (0: all), valid for their item's current content, with the item's source, in the order
-- written, at most `max_rows`; each row also carries the snapshot's xmin (`horizon`): every
-- transaction below it had ended when this ran, so the next read may start there. When no
-- vector qualifies, one row of NULLs carries the horizon.
WITH snapshot AS (
    SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS horizon
)
SELECT v.item_id, v.chunk_index, v.chunk_count, v.content_hash, v.vector, v.source,
    v.written_by, snapshot.horizon
FROM snapshot
LEFT JOIN LATERAL (
    SELECT e.item_id, e.chunk_index, e.chunk_count, e.content_hash, e.vector, i.source,
        e.written_by
    FROM chunk_embedding AS e
    JOIN item AS i ON i.id = e.item_id AND i.content_hash = e.content_hash
    WHERE e.chunker_key = :chunker_key AND e.model_key = :model_key
        AND e.written_by >= :from_transaction::bigint
    ORDER BY e.written_by, e.item_id, e.chunk_index
    LIMIT :max_rows::bigint
) AS v ON true
ORDER BY v.written_by, v.item_id, v.chunk_index;

--! embedding_progress
-- How many items there are, and how many of them have their current content indexed for the
-- chunker and model (vectors written, or marked done without chunks).
SELECT count(*) AS items,
    count(*) FILTER (
        WHERE EXISTS (
            SELECT 1
            FROM chunk_embedding AS e
            WHERE e.item_id = i.id AND e.chunker_key = :chunker_key
                AND e.model_key = :model_key AND e.chunk_index = 0
                AND e.content_hash = i.content_hash
        )
        OR EXISTS (
            SELECT 1
            FROM embedding_claim AS c
            WHERE c.item_id = i.id AND c.chunker_key = :chunker_key
                AND c.model_key = :model_key AND c.content_hash = i.content_hash
                AND c.claimed_until = 'infinity'
        )
    ) AS indexed
FROM item AS i;
