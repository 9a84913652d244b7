-- Filters on what items say about themselves (`ItemRepo::matching`): the document a filter's
-- jsonpath is evaluated on, a version of the items that grows with every write, so that a
-- reader may keep a filter's matches while it stands (the metadata's index is V0008).

-- What a filter sees of an item: its own fields (times as seconds since 1970) and its
-- metadata, under the names the filter uses.
CREATE FUNCTION item_filter_document(source text, external_id text, created_at timestamptz,
                                     updated_at timestamptz, metadata jsonb) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT jsonb_build_object(
        'source', source,
        'external_id', external_id,
        'created_at', extract(epoch FROM created_at),
        'updated_at', extract(epoch FROM updated_at),
        'metadata', metadata)
$$;

-- Statements that wrote items, by shard (the backend's, so concurrent writers rarely meet on
-- one row): the sum over the rows only grows, so a reader that keeps a filter's matches knows
-- they are current while the sum is what it was when it read them. Unlike the lexical index's
-- version, a change of metadata alone counts.
CREATE TABLE item_facts_stats (
    shard   integer PRIMARY KEY,
    version bigint NOT NULL DEFAULT 0,
    CONSTRAINT item_facts_stats_shard_check CHECK (shard >= 0 AND shard < 16)
);

INSERT INTO item_facts_stats (shard) SELECT generate_series(0, 15);

-- Counts a statement that wrote at least one row (a statement that wrote none, such as an
-- unchanged re-ingest, keeps every reader's matches); TRUNCATE always counts.
CREATE FUNCTION item_facts_count() RETURNS void
LANGUAGE sql AS $$
    UPDATE item_facts_stats SET version = version + 1 WHERE shard = pg_backend_pid() % 16
$$;

CREATE FUNCTION item_facts_after_write() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    -- A TRUNCATE has no transition table: it is never asked for one.
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM item_facts_count();
    ELSIF EXISTS (SELECT FROM written_rows) THEN
        PERFORM item_facts_count();
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER item_facts_after_insert
    AFTER INSERT ON item REFERENCING NEW TABLE AS written_rows
    FOR EACH STATEMENT EXECUTE FUNCTION item_facts_after_write();
CREATE TRIGGER item_facts_after_update
    AFTER UPDATE ON item REFERENCING NEW TABLE AS written_rows
    FOR EACH STATEMENT EXECUTE FUNCTION item_facts_after_write();
CREATE TRIGGER item_facts_after_delete
    AFTER DELETE ON item REFERENCING OLD TABLE AS written_rows
    FOR EACH STATEMENT EXECUTE FUNCTION item_facts_after_write();
CREATE TRIGGER item_facts_after_truncate
    AFTER TRUNCATE ON item FOR EACH STATEMENT EXECUTE FUNCTION item_facts_after_write();
