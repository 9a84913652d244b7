-- Dense vectors of cached chunks, one per chunk, chunker and embedding model, computed once
-- and shared by every service of the knowledge base; and the claims that let several indexers
-- work side by side without embedding the same item twice.

CREATE TABLE chunk_embedding (
    item_id      bigint NOT NULL REFERENCES item (id) ON DELETE CASCADE,
    chunker_key  text NOT NULL,
    -- Names the model and its weights (e.g. `all-MiniLM-L6-v2:53aa51172d14`).
    model_key    text NOT NULL,
    chunk_index  integer NOT NULL,
    -- Number of chunks in the set: a reader checks it got them all.
    chunk_count  integer NOT NULL,
    -- The item's content hash the chunk was cut from: the vector is valid only while the
    -- item still has it.
    content_hash bytea NOT NULL,
    -- float4 values, little-endian, 4 bytes each.
    vector       bytea NOT NULL,
    -- The transaction that wrote the row (`pg_current_xact_id()`): a reader that has seen every
    -- transaction below its last snapshot's xmin asks for the rows written from there on.
    written_by   bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    PRIMARY KEY (item_id, chunker_key, model_key, chunk_index),
    CONSTRAINT chunk_embedding_chunker_key_check CHECK (chunker_key <> '' AND octet_length(chunker_key) <= 256),
    CONSTRAINT chunk_embedding_model_key_check CHECK (model_key <> '' AND octet_length(model_key) <= 256),
    CONSTRAINT chunk_embedding_index_check CHECK (chunk_index >= 0 AND chunk_index < chunk_count),
    CONSTRAINT chunk_embedding_content_hash_check CHECK (octet_length(content_hash) = 32),
    CONSTRAINT chunk_embedding_vector_check CHECK (octet_length(vector) BETWEEN 4 AND 65536 AND octet_length(vector) % 4 = 0)
);

-- What a reader asks for: the vectors of one chunker and model written from a transaction on.
CREATE INDEX chunk_embedding_changes ON chunk_embedding (chunker_key, model_key, written_by);

-- An indexer's claim on an item's content (by hash) for one chunker and model, valid until
-- `claimed_until`: an expired claim (its indexer died) may be taken over, a claim on content the
-- item no longer has does not count. `infinity` marks the content done (also when it has no
-- chunks, so no vector says so).
CREATE TABLE embedding_claim (
    item_id       bigint NOT NULL REFERENCES item (id) ON DELETE CASCADE,
    chunker_key   text NOT NULL,
    model_key     text NOT NULL,
    content_hash  bytea NOT NULL,
    claimed_until timestamptz NOT NULL,
    PRIMARY KEY (item_id, chunker_key, model_key),
    CONSTRAINT embedding_claim_content_hash_check CHECK (octet_length(content_hash) = 32)
);
