-- The lexical index: what BM25 needs, kept by the database in the same transaction as the
-- data it describes (docs/retrieval.md).
--
-- * Which items hold a term, and how often (in the title and in the content), is what
--   `item.search_vector` and its GIN index already hold: a lexeme's positions are its
--   occurrences, weight 'A' marks the title's, 'B' the content's. Search reads a posting's
--   frequencies from the vector (`lexical_postings` in queries/item.sql), so a write adds
--   nothing per term.
--   (A copy of every item's terms and frequencies in arrays, built by `unnest` of the vector,
--   cost 0.26 ms of server time per item written, a third of the whole upsert.)
-- * `item_term`: one row per item: its title and content lengths, in characters of the text
--   its search vector indexes (characters grow with terms, so they normalise lengths as term
--   counts do, and they cost nothing to count; counting a vector's positions needs `unnest`).
-- * `item_term_stats`: corpus totals (items, title and content lengths) and a version that
--   every change to the index grows, split over 16 rows picked by the writing backend, so
--   concurrent writers rarely wait on one another; a reader sums the rows.
-- * `chunk_cache` gains each chunk's terms, their frequencies and its length in terms,
--   computed when the chunk set is written, so passages are scored without re-reading text.
--
-- Terms are the lexemes of PostgreSQL's `english` configuration: an item's come from its stored
-- `search_vector` (title weighted 'A', content 'B'), a chunk's from `to_tsvector('english',
-- text)`, a question's from `to_tsvector('english', question)`, so all three always agree.
-- Triggers keep `item_term` current: a committed write is searchable at once, a rolled-back one
-- leaves nothing, and writers of one item are serialised by its row lock. The trigger functions
-- run with their owner's rights (SECURITY DEFINER, search_path pinned to this schema), so a role
-- that may write `item` needs no rights on the index tables; readers need SELECT on them
-- (docs/operations.md).

CREATE TABLE item_term (
    item_id        bigint PRIMARY KEY,
    -- Characters of the title and of the content (as indexed).
    title_length   integer NOT NULL,
    content_length integer NOT NULL
);

-- An item's title and content lengths: characters of the parts `search_vector` indexes (V0001:
-- the first 1,000 characters of the title, the first 250,000 of the content).
CREATE FUNCTION item_title_length(title text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT least(coalesce(char_length(title), 0), 1000) $$;

CREATE FUNCTION item_content_length(content text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT least(char_length(content), 250000) $$;

CREATE TABLE item_term_stats (
    shard          integer PRIMARY KEY,
    items          bigint NOT NULL DEFAULT 0,
    title_length   bigint NOT NULL DEFAULT 0,
    content_length bigint NOT NULL DEFAULT 0,
    -- Statements that changed the index: the sum over the rows only grows, so a reader that
    -- keeps postings knows they are current while the sum is what it was when it read them.
    version        bigint NOT NULL DEFAULT 0,
    CONSTRAINT item_term_stats_shard_check CHECK (shard >= 0 AND shard < 16)
);

INSERT INTO item_term_stats (shard) SELECT generate_series(0, 15);

ALTER TABLE chunk_cache
    ADD COLUMN terms text[],
    ADD COLUMN term_frequencies smallint[],
    ADD COLUMN term_count integer;

-- Adds to the corpus totals and counts one more change, in the stats row of this backend (one
-- row per transaction, so concurrent writers rarely meet on one).
CREATE FUNCTION item_term_stats_add(items bigint, title_length bigint, content_length bigint)
RETURNS void
LANGUAGE sql AS $$
    UPDATE item_term_stats AS s
    SET items = s.items + item_term_stats_add.items,
        title_length = s.title_length + item_term_stats_add.title_length,
        content_length = s.content_length + item_term_stats_add.content_length,
        version = s.version + 1
    WHERE s.shard = pg_backend_pid() % 16
$$;

CREATE FUNCTION item_term_after_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    added record;
BEGIN
    WITH inserted AS (
        INSERT INTO item_term (item_id, title_length, content_length)
        SELECT n.id, item_title_length(n.title), item_content_length(n.content)
        FROM new_rows AS n
        RETURNING item_term.title_length, item_term.content_length
    )
    SELECT count(*) AS items, coalesce(sum(title_length), 0)::bigint AS title_length,
        coalesce(sum(content_length), 0)::bigint AS content_length
    INTO added
    FROM inserted;
    IF added.items > 0 THEN
        PERFORM item_term_stats_add(added.items, added.title_length, added.content_length);
    END IF;
    RETURN NULL;
END
$$;

-- Only rows whose title or content changed are re-indexed (a metadata-only update keeps its
-- row). Ids never change (an identity column GENERATED ALWAYS).
CREATE FUNCTION item_term_after_update() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    delta record;
BEGIN
    WITH changed AS (
        SELECT n.id, item_title_length(n.title) AS title_length,
            item_content_length(n.content) AS content_length,
            item_title_length(n.title) - item_title_length(o.title)
                AS title_delta,
            item_content_length(n.content) - item_content_length(o.content)
                AS content_delta
        FROM old_rows AS o
            JOIN new_rows AS n ON n.id = o.id
        WHERE (o.title, o.content) IS DISTINCT FROM (n.title, n.content)
    ),
    updated AS (
        UPDATE item_term AS t
        SET title_length = c.title_length, content_length = c.content_length
        FROM changed AS c
        WHERE t.item_id = c.id
        RETURNING c.title_delta, c.content_delta
    )
    SELECT count(*) AS items, coalesce(sum(title_delta), 0)::bigint AS title_length,
        coalesce(sum(content_delta), 0)::bigint AS content_length
    INTO delta
    FROM updated;
    IF delta.items > 0 THEN
        PERFORM item_term_stats_add(0, delta.title_length, delta.content_length);
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION item_term_after_delete() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    removed record;
BEGIN
    WITH deleted AS (
        DELETE FROM item_term AS t
        USING old_rows AS o
        WHERE t.item_id = o.id
        RETURNING t.title_length, t.content_length
    )
    SELECT count(*) AS items, coalesce(sum(title_length), 0)::bigint AS title_length,
        coalesce(sum(content_length), 0)::bigint AS content_length
    INTO removed
    FROM deleted;
    IF removed.items > 0 THEN
        PERFORM item_term_stats_add(-removed.items, -removed.title_length,
            -removed.content_length);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER item_term_after_insert
    AFTER INSERT ON item REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION item_term_after_insert();
CREATE TRIGGER item_term_after_update
    AFTER UPDATE ON item REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION item_term_after_update();
CREATE TRIGGER item_term_after_delete
    AFTER DELETE ON item REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION item_term_after_delete();

-- Rows written before this migration: the triggers above see only writes from now on.
INSERT INTO item_term (item_id, title_length, content_length)
SELECT i.id, item_title_length(i.title), item_content_length(i.content)
FROM item AS i;

UPDATE item_term_stats AS s
SET items = totals.items, title_length = totals.title_length,
    content_length = totals.content_length
FROM (
    SELECT count(*) AS items, coalesce(sum(t.title_length), 0) AS title_length,
        coalesce(sum(t.content_length), 0) AS content_length
    FROM item_term AS t
) AS totals
WHERE s.shard = 0;

-- Cached chunks written before this migration have no terms: readers treat their sets as
-- missing, and the orchestrator writes them again with terms.
