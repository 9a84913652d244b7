-- The knowledge base, version 1: items and the chunk cache.
--
-- Names are unqualified: the schema comes from the connection's search_path, so the same
-- migrations build `kb`, a per-test schema, or any configured schema.
-- Applied migrations are never edited; add a new file instead (docs/migrations.md).

-- One knowledge document. `(source, external_id)` is its identity for idempotent upserts.
CREATE TABLE item (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source       text NOT NULL,
    external_id  text NOT NULL,
    title        text,
    content      text NOT NULL,
    -- sha256(content): change detection, and the validity key of cached chunks.
    content_hash bytea NOT NULL,
    metadata     jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    -- Full-text vector: title weighted above content. Only the first 250,000 characters of
    -- the content are indexed: a tsvector holds at most 1 MB (a 1 MB text of distinct words
    -- would not fit) and word positions stop counting at 16,383 anyway.
    search_vector tsvector NOT NULL GENERATED ALWAYS AS (
        setweight(to_tsvector('english'::regconfig, left(coalesce(title, ''), 1000)), 'A')
        || setweight(to_tsvector('english'::regconfig, left(content, 250000)), 'B')
    ) STORED,
    CONSTRAINT item_source_external_id_key UNIQUE (source, external_id),
    CONSTRAINT item_source_check CHECK (source <> '' AND octet_length(source) <= 256),
    CONSTRAINT item_external_id_check CHECK (external_id <> '' AND octet_length(external_id) <= 1024),
    CONSTRAINT item_content_hash_check CHECK (octet_length(content_hash) = 32),
    CONSTRAINT item_metadata_check CHECK (jsonb_typeof(metadata) = 'object'),
    CONSTRAINT item_timestamps_check CHECK (updated_at >= created_at)
);

CREATE INDEX item_search_vector_idx ON item USING gin (search_vector);

-- Chunking results of the orchestrator: one chunk set per (item, chunker_key), valid only
-- while its content_hash equals the item's. Deleting an item deletes its chunks.
CREATE TABLE chunk_cache (
    item_id      bigint NOT NULL REFERENCES item (id) ON DELETE CASCADE,
    -- Names the chunking algorithm, its version and its parameters.
    chunker_key  text NOT NULL,
    chunk_index  integer NOT NULL,
    -- Number of chunks in the set: a reader checks it got them all.
    chunk_count  integer NOT NULL,
    content_hash bytea NOT NULL,
    -- Offsets into the item's content, in bytes of its UTF-8 encoding: [start_offset, end_offset).
    start_offset integer NOT NULL,
    end_offset   integer NOT NULL,
    text         text NOT NULL,
    token_count  integer NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (item_id, chunker_key, chunk_index),
    CONSTRAINT chunk_cache_chunker_key_check CHECK (chunker_key <> '' AND octet_length(chunker_key) <= 256),
    CONSTRAINT chunk_cache_index_check CHECK (chunk_index >= 0 AND chunk_index < chunk_count),
    CONSTRAINT chunk_cache_content_hash_check CHECK (octet_length(content_hash) = 32),
    CONSTRAINT chunk_cache_offsets_check CHECK (start_offset >= 0 AND end_offset >= start_offset),
    CONSTRAINT chunk_cache_token_count_check CHECK (token_count >= 0)
);
