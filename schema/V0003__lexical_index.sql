-- The lexical index: what BM25 needs, kept by the database in the same transaction as the
-- data it describes (docs/retrieval.md).
--
-- * `item_term`: one row per item: its terms (in term order) with how often each occurs, the
--   same for its title alone, and the item's title and content lengths (in terms). Which
--   items hold a term is what `item.search_vector`'s GIN index already answers; this row adds
--   the frequencies and lengths that ranking needs. One row per item, not one per term: a
--   row per (term, item) cost 11 us of server time per posting on every write (docs/benchmarks.md).
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
    -- Every term of the item, in term order, and how often it occurs (title and content).
    terms          text[] NOT NULL,
    tfs            smallint[] NOT NULL,
    -- The terms of the title alone, in term order, and how often each occurs there.
    title_terms    text[] NOT NULL,
    title_tfs      smallint[] NOT NULL,
    title_length   integer NOT NULL,
    content_length integer NOT NULL
);

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

-- Rows of ordinary size stay whole and uncompressed in the table's pages (as for `item`,
-- V0002): an index row is written with every item write and read by every cold search.
ALTER TABLE item_term SET (toast_tuple_target = 8160);

-- The index row of one item's search vector: title terms carry weight 'A'. A tsvector keeps
-- its lexemes sorted, and unnest returns them in that order: the arrays are in term order.
-- (Counting each lexeme's 'A' weights instead took twice as long: ts_filter is cheaper.)
CREATE FUNCTION item_term_row(vector tsvector, OUT terms text[], OUT tfs smallint[],
    OUT title_terms text[], OUT title_tfs smallint[], OUT title_length integer,
    OUT content_length integer)
LANGUAGE sql IMMUTABLE AS $$
    SELECT every_term.terms, every_term.tfs, title.terms, title.tfs, title.length,
        every_term.length - title.length
    FROM (
        SELECT coalesce(array_agg(u.lexeme), '{}') AS terms,
            coalesce(array_agg(cardinality(u.positions)::smallint), '{}') AS tfs,
            coalesce(sum(cardinality(u.positions)), 0)::integer AS length
        FROM unnest(vector) AS u
    ) AS every_term,
    (
        SELECT coalesce(array_agg(u.lexeme), '{}') AS terms,
            coalesce(array_agg(cardinality(u.positions)::smallint), '{}') AS tfs,
            coalesce(sum(cardinality(u.positions)), 0)::integer AS length
        FROM unnest(ts_filter(vector, '{a}')) AS u
    ) AS title
$$;

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
        INSERT INTO item_term (item_id, terms, tfs, title_terms, title_tfs, title_length,
            content_length)
        SELECT n.id, r.terms, r.tfs, r.title_terms, r.title_tfs, r.title_length,
            r.content_length
        FROM new_rows AS n, item_term_row(n.search_vector) AS r
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

-- Only rows whose search vector changed are re-indexed (a metadata-only update keeps its
-- row). Ids never change (an identity column GENERATED ALWAYS).
CREATE FUNCTION item_term_after_update() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    delta record;
BEGIN
    WITH changed AS (
        SELECT n.id, r.terms, r.tfs, r.title_terms, r.title_tfs, r.title_length,
            r.content_length, r.title_length - before.title_length AS title_delta,
            r.content_length - before.content_length AS content_delta
        FROM old_rows AS o
            JOIN new_rows AS n ON n.id = o.id,
            item_term_row(n.search_vector) AS r,
            item_term_row(o.search_vector) AS before
        WHERE o.search_vector IS DISTINCT FROM n.search_vector
    ),
    updated AS (
        UPDATE item_term AS t
        SET terms = c.terms, tfs = c.tfs, title_terms = c.title_terms,
            title_tfs = c.title_tfs, title_length = c.title_length,
            content_length = c.content_length
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
INSERT INTO item_term (item_id, terms, tfs, title_terms, title_tfs, title_length,
    content_length)
SELECT i.id, r.terms, r.tfs, r.title_terms, r.title_tfs, r.title_length, r.content_length
FROM item AS i, item_term_row(i.search_vector) AS r;

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
