-- The lexical index: what BM25 needs, kept by the database in the same transaction as the
-- data it describes (docs/retrieval.md).
--
-- * `item_term`: one posting per (term, item): how often the term occurs in the item's title
--   and in its content, and the item's title and content lengths (in terms), so a search reads
--   everything it scores from the index alone (index-only scan on the primary key).
-- * `item_term_stats`: corpus totals (items, title and content lengths), split over 16 rows
--   picked by the writing backend, so concurrent writers rarely wait on one another; a reader
--   sums the rows.
-- * `chunk_term`: the same postings for the chunks of the chunk cache, written when a chunk set
--   is cached, so passages are scored without re-reading their text.
--
-- Terms are the lexemes of PostgreSQL's `english` configuration: an item's come from its stored
-- `search_vector` (title weighted 'A', content 'B'), a chunk's from `to_tsvector('english',
-- text)`, a question's from `to_tsvector('english', question)`, so all three always agree.
-- Triggers keep the tables current: a committed write is searchable at once, a rolled-back one
-- leaves nothing, and writers of one item are serialised by its row lock. The trigger functions
-- run with their owner's rights (SECURITY DEFINER, search_path pinned to this schema), so a role
-- that may write `item` or `chunk_cache` needs no rights on the index tables; readers need
-- SELECT on them (docs/operations.md).

CREATE TABLE item_term (
    term           text NOT NULL,
    item_id        bigint NOT NULL,
    title_tf       smallint NOT NULL,
    content_tf     smallint NOT NULL,
    title_length   integer NOT NULL,
    content_length integer NOT NULL,
    CONSTRAINT item_term_pkey PRIMARY KEY (term, item_id)
        INCLUDE (title_tf, content_tf, title_length, content_length)
);

CREATE TABLE item_term_stats (
    shard          integer PRIMARY KEY,
    items          bigint NOT NULL DEFAULT 0,
    title_length   bigint NOT NULL DEFAULT 0,
    content_length bigint NOT NULL DEFAULT 0,
    -- Statements that changed the postings: the sum over the rows only grows, so a reader that
    -- keeps postings knows they are current while the sum is what it was when it read them.
    version        bigint NOT NULL DEFAULT 0,
    CONSTRAINT item_term_stats_shard_check CHECK (shard >= 0 AND shard < 16)
);

INSERT INTO item_term_stats (shard) SELECT generate_series(0, 15);

CREATE TABLE chunk_term (
    item_id      bigint NOT NULL,
    chunker_key  text NOT NULL,
    term         text NOT NULL,
    chunk_index  integer NOT NULL,
    tf           smallint NOT NULL,
    chunk_length integer NOT NULL,
    CONSTRAINT chunk_term_pkey PRIMARY KEY (item_id, chunker_key, term, chunk_index)
        INCLUDE (tf, chunk_length)
);

-- The postings of one item from its search vector: title terms carry weight 'A'.
CREATE FUNCTION item_term_postings(id bigint, vector tsvector)
RETURNS TABLE (term text, item_id bigint, title_tf smallint, content_tf smallint,
    title_length integer, content_length integer)
LANGUAGE sql IMMUTABLE AS $$
    WITH terms AS (
        SELECT u.lexeme AS term,
            cardinality(array_positions(u.weights, 'A')) AS title_tf,
            cardinality(u.weights) - cardinality(array_positions(u.weights, 'A')) AS content_tf
        FROM unnest(vector) AS u
    )
    SELECT terms.term, id, terms.title_tf::smallint, terms.content_tf::smallint,
        (sum(terms.title_tf) OVER ())::integer, (sum(terms.content_tf) OVER ())::integer
    FROM terms
$$;

-- The title and content lengths (in terms) of one item's search vector.
CREATE FUNCTION item_term_lengths(vector tsvector, OUT title_length bigint,
    OUT content_length bigint)
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(sum(cardinality(array_positions(u.weights, 'A'))), 0),
        coalesce(sum(cardinality(u.weights) - cardinality(array_positions(u.weights, 'A'))), 0)
    FROM unnest(vector) AS u
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
    SELECT count(*) AS items, coalesce(sum(l.title_length), 0)::bigint AS title_length,
        coalesce(sum(l.content_length), 0)::bigint AS content_length
    INTO added
    FROM new_rows AS n, item_term_lengths(n.search_vector) AS l;
    IF added.items = 0 THEN
        RETURN NULL;
    END IF;
    INSERT INTO item_term (term, item_id, title_tf, content_tf, title_length, content_length)
    SELECT p.*
    FROM new_rows AS n, item_term_postings(n.id, n.search_vector) AS p;
    PERFORM item_term_stats_add(added.items, added.title_length, added.content_length);
    RETURN NULL;
END
$$;

-- Only rows whose search vector changed are re-indexed (a metadata-only update keeps its
-- postings). Ids never change (an identity column GENERATED ALWAYS).
CREATE FUNCTION item_term_after_update() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    delta record;
BEGIN
    SELECT count(*) AS items,
        coalesce(sum(nl.title_length - ol.title_length), 0)::bigint AS title_length,
        coalesce(sum(nl.content_length - ol.content_length), 0)::bigint AS content_length
    INTO delta
    FROM old_rows AS o
        JOIN new_rows AS n ON n.id = o.id,
        item_term_lengths(o.search_vector) AS ol,
        item_term_lengths(n.search_vector) AS nl
    WHERE o.search_vector IS DISTINCT FROM n.search_vector;
    IF delta.items = 0 THEN
        RETURN NULL;
    END IF;
    DELETE FROM item_term AS t
    USING old_rows AS o
        JOIN new_rows AS n ON n.id = o.id,
        unnest(o.search_vector) AS u
    WHERE o.search_vector IS DISTINCT FROM n.search_vector
        AND t.term = u.lexeme AND t.item_id = o.id;
    INSERT INTO item_term (term, item_id, title_tf, content_tf, title_length, content_length)
    SELECT p.*
    FROM old_rows AS o
        JOIN new_rows AS n ON n.id = o.id,
        item_term_postings(n.id, n.search_vector) AS p
    WHERE o.search_vector IS DISTINCT FROM n.search_vector;
    PERFORM item_term_stats_add(0, delta.title_length, delta.content_length);
    RETURN NULL;
END
$$;

CREATE FUNCTION item_term_after_delete() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    removed record;
BEGIN
    SELECT count(*) AS items, coalesce(sum(l.title_length), 0)::bigint AS title_length,
        coalesce(sum(l.content_length), 0)::bigint AS content_length
    INTO removed
    FROM old_rows AS o, item_term_lengths(o.search_vector) AS l;
    IF removed.items = 0 THEN
        RETURN NULL;
    END IF;
    DELETE FROM item_term AS t
    USING old_rows AS o, unnest(o.search_vector) AS u
    WHERE t.term = u.lexeme AND t.item_id = o.id;
    PERFORM item_term_stats_add(-removed.items, -removed.title_length, -removed.content_length);
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

-- The postings of one chunk of the chunk cache.
CREATE FUNCTION chunk_term_postings(of_item bigint, of_chunker text, of_index integer,
    chunk_text text)
RETURNS TABLE (item_id bigint, chunker_key text, term text, chunk_index integer, tf smallint,
    chunk_length integer)
LANGUAGE sql IMMUTABLE AS $$
    SELECT $1, $2, u.lexeme, $3, cardinality(u.positions)::smallint,
        (sum(cardinality(u.positions)) OVER ())::integer
    FROM unnest(to_tsvector('english'::regconfig, $4)) AS u
$$;

-- After every statement that writes the chunk cache: the chunks' postings are replaced (only
-- those whose text changed, on update).
CREATE FUNCTION chunk_term_after_write() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM chunk_term AS t
        USING old_rows AS o
            JOIN new_rows AS n ON (n.item_id, n.chunker_key, n.chunk_index)
                = (o.item_id, o.chunker_key, o.chunk_index)
        WHERE o.text IS DISTINCT FROM n.text
            AND t.item_id = o.item_id AND t.chunker_key = o.chunker_key
            AND t.chunk_index = o.chunk_index;
        INSERT INTO chunk_term (item_id, chunker_key, term, chunk_index, tf, chunk_length)
        SELECT p.*
        FROM old_rows AS o
            JOIN new_rows AS n ON (n.item_id, n.chunker_key, n.chunk_index)
                = (o.item_id, o.chunker_key, o.chunk_index),
            chunk_term_postings(n.item_id, n.chunker_key, n.chunk_index, n.text) AS p
        WHERE o.text IS DISTINCT FROM n.text;
    ELSIF TG_OP = 'DELETE' THEN
        DELETE FROM chunk_term AS t
        USING old_rows AS o
        WHERE t.item_id = o.item_id AND t.chunker_key = o.chunker_key
            AND t.chunk_index = o.chunk_index;
    ELSE
        INSERT INTO chunk_term (item_id, chunker_key, term, chunk_index, tf, chunk_length)
        SELECT p.*
        FROM new_rows AS n,
            chunk_term_postings(n.item_id, n.chunker_key, n.chunk_index, n.text) AS p;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER chunk_term_after_insert
    AFTER INSERT ON chunk_cache REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION chunk_term_after_write();
CREATE TRIGGER chunk_term_after_update
    AFTER UPDATE ON chunk_cache REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION chunk_term_after_write();
CREATE TRIGGER chunk_term_after_delete
    AFTER DELETE ON chunk_cache REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION chunk_term_after_write();

-- Rows written before this migration: the triggers above see only writes from now on.
INSERT INTO item_term (term, item_id, title_tf, content_tf, title_length, content_length)
SELECT p.*
FROM item AS i, item_term_postings(i.id, i.search_vector) AS p;

UPDATE item_term_stats AS s
SET items = totals.items, title_length = totals.title_length,
    content_length = totals.content_length
FROM (
    SELECT count(*) AS items, coalesce(sum(l.title_length), 0)::bigint AS title_length,
        coalesce(sum(l.content_length), 0)::bigint AS content_length
    FROM item AS i, item_term_lengths(i.search_vector) AS l
) AS totals
WHERE s.shard = 0;

INSERT INTO chunk_term (item_id, chunker_key, term, chunk_index, tf, chunk_length)
SELECT p.*
FROM chunk_cache AS c,
    chunk_term_postings(c.item_id, c.chunker_key, c.chunk_index, c.text) AS p;
