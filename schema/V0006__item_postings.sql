-- Stored postings: the lexical index's postings lists, written in the item's transaction by
-- the triggers below (so every writer, in any language, keeps them right) and read by search
-- without touching the items (docs/retrieval.md, docs/scaling.md).
--
-- Before this migration a search read a posting's frequencies out of its item's whole
-- `search_vector`, about 15-20 us of server time per posting: at 220,000 items a question of
-- 13,000 postings cost 264 ms. A row per posting read fast but made loading 3.9 times slower
-- and the database 5 times larger (measured, docs/scaling.md). So postings are kept in arrays,
-- many per row:
--
-- * `item_posting`: one row per term and *block*: postings of that term in parallel arrays
--   (in no particular order): items, the term's frequency in their title and in their content
--   (weights 'A' and 'B' in `search_vector`), their title and content lengths (as `item_term`
--   holds them) and their source (an `item_source` number). Blocks are numbered from
--   `item_posting_block_number`.
-- * `item_posting_fresh`: items written since the last merge, whose postings are in no block
--   yet. A writer adds a row per item here and nothing else, so writing costs about what it
--   did; a search computes fresh items' postings from their `search_vector` (as every search
--   did before), which costs in proportion to the fresh items, until a merge.
-- * `item_posting_dead`: an item whose source, title or content changed, or that was deleted,
--   has postings in blocks that are no longer current: a mark (before_block, item_id) says its
--   postings in blocks numbered below `before_block` are gone. Readers drop them; merges drop
--   them for good.
-- * Merging (`merge_fresh_item_postings`, then `merge_item_postings` over every term, which
--   `ItemRepo::merge_postings` runs, and aiblox-ingest after loading): fresh items become one
--   block per term; then per term the newest blocks, while each holds at most twice the
--   postings of those newer than it, become one block without dead postings once there are
--   four of them, so a term keeps a few blocks of growing size (each posting is rewritten a logarithmic number of times; a
--   block of 65,536 postings or more is full and rewritten only as below); a block is
--   rewritten too once more marks are above it than it holds postings (a search reads those
--   marks with the block). Merges change no posting a search sees, only where it reads them.
--   Marks below every block are dropped at the end of a sweep.
--
-- A merge and a writer that marks postings dead exclude each other through the lock on
-- `item_posting_dead` (SHARE ROW EXCLUSIVE against ROW EXCLUSIVE), taken before either numbers
-- anything: a merge either sees a writer's marks and fresh items, or numbers its blocks below
-- the writer's marks (so they cover them).

CREATE SEQUENCE item_posting_block_number;

-- Sources by a small number, so postings name theirs in four bytes.
CREATE TABLE item_source (
    id     integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source text NOT NULL,
    CONSTRAINT item_source_source_key UNIQUE (source)
);

CREATE TABLE item_posting (
    term            text NOT NULL,
    block           bigint NOT NULL,
    -- How many postings the arrays hold.
    postings        integer NOT NULL,
    item_ids        bigint[] NOT NULL,
    title_tfs       smallint[] NOT NULL,
    content_tfs     smallint[] NOT NULL,
    title_lengths   integer[] NOT NULL,
    content_lengths integer[] NOT NULL,
    source_ids      integer[] NOT NULL,
    PRIMARY KEY (term, block)
);

CREATE TABLE item_posting_dead (
    before_block bigint NOT NULL,
    item_id bigint NOT NULL,
    PRIMARY KEY (before_block, item_id)
);

CREATE TABLE item_posting_fresh (
    item_id bigint PRIMARY KEY
);

-- Items `ids` (of `sources`) are fresh: their postings are computed from `search_vector`
-- until a merge writes them into blocks.
CREATE FUNCTION item_posting_fresh_add(ids bigint[], sources text[]) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO item_source (source)
    SELECT DISTINCT x.source
    FROM unnest(sources) AS x(source)
    WHERE NOT EXISTS (SELECT FROM item_source AS s WHERE s.source = x.source)
    ON CONFLICT DO NOTHING;
    INSERT INTO item_posting_fresh (item_id)
    SELECT x.id FROM unnest(ids) AS x(id)
    ON CONFLICT DO NOTHING;
$$;

-- The postings of items `ids` as blocks numbered `written_block`, lengths from `item_term`
-- (counting a content's characters again would read it whole).
CREATE FUNCTION item_posting_write(written_block bigint, ids bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO item_posting (term, block, postings, item_ids, title_tfs, content_tfs,
        title_lengths, content_lengths, source_ids)
    SELECT p.lexeme, written_block, count(*), array_agg(p.id), array_agg(p.title_tf),
        array_agg(p.content_tf), array_agg(p.title_length), array_agg(p.content_length),
        array_agg(p.source_id)
    FROM (
        SELECT u.lexeme, n.id, f.title_tf::smallint,
            (cardinality(u.positions) - f.title_tf)::smallint AS content_tf,
            t.title_length, t.content_length, s.id AS source_id
        FROM item AS n
            JOIN item_term AS t ON t.item_id = n.id
            JOIN item_source AS s ON s.source = n.source
            CROSS JOIN LATERAL unnest(n.search_vector) AS u
            CROSS JOIN LATERAL (
                SELECT coalesce(cardinality(array_positions(u.weights, 'A')), 0) AS title_tf
            ) AS f
        WHERE n.id = ANY(ids)
    ) AS p
    GROUP BY p.lexeme;
END
$$;

CREATE FUNCTION item_posting_after_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    PERFORM item_posting_fresh_add(array(SELECT n.id FROM new_rows AS n),
        array(SELECT DISTINCT n.source FROM new_rows AS n));
    RETURN NULL;
END
$$;

-- Only rows whose source, title or content changed are fresh again (a metadata-only update
-- keeps its postings); their postings in blocks are marked dead.
CREATE FUNCTION item_posting_after_update() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    changed bigint[];
    new_mark bigint;
BEGIN
    changed := array(
        SELECT n.id
        FROM old_rows AS o
            JOIN new_rows AS n ON n.id = o.id
        WHERE (o.source, o.title, o.content) IS DISTINCT FROM (n.source, n.title, n.content)
    );
    IF cardinality(changed) = 0 THEN
        RETURN NULL;
    END IF;
    LOCK TABLE item_posting_dead IN ROW EXCLUSIVE MODE;
    new_mark := nextval('item_posting_block_number');
    INSERT INTO item_posting_dead (before_block, item_id)
    SELECT new_mark, c.id FROM unnest(changed) AS c(id);
    PERFORM item_posting_fresh_add(changed, array(
        SELECT DISTINCT n.source FROM new_rows AS n WHERE n.id = ANY(changed)));
    -- A source-only change moves no length: the version still grows, so kept postings go.
    PERFORM item_term_stats_add(0, 0, 0);
    RETURN NULL;
END
$$;

CREATE FUNCTION item_posting_after_delete() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    new_mark bigint;
BEGIN
    IF NOT EXISTS (SELECT FROM old_rows) THEN
        RETURN NULL;
    END IF;
    LOCK TABLE item_posting_dead IN ROW EXCLUSIVE MODE;
    new_mark := nextval('item_posting_block_number');
    INSERT INTO item_posting_dead (before_block, item_id)
    SELECT new_mark, o.id FROM old_rows AS o;
    DELETE FROM item_posting_fresh AS f USING old_rows AS o WHERE f.item_id = o.id;
    RETURN NULL;
END
$$;

CREATE FUNCTION item_posting_after_truncate() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    TRUNCATE item_posting, item_posting_dead, item_posting_fresh;
    RETURN NULL;
END
$$;

CREATE TRIGGER item_term_then_posting_after_insert
    AFTER INSERT ON item REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION item_posting_after_insert();
CREATE TRIGGER item_term_then_posting_after_update
    AFTER UPDATE ON item REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION item_posting_after_update();
CREATE TRIGGER item_term_then_posting_after_delete
    AFTER DELETE ON item REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION item_posting_after_delete();
CREATE TRIGGER item_term_then_posting_after_truncate
    AFTER TRUNCATE ON item
    FOR EACH STATEMENT EXECUTE FUNCTION item_posting_after_truncate();

-- The last block or mark number given (0 before the first).
CREATE FUNCTION item_posting_numbered() RETURNS bigint
LANGUAGE sql AS $$
    SELECT CASE WHEN s.is_called THEN s.last_value ELSE 0 END FROM item_posting_block_number AS s
$$;

-- Where the last complete sweep of `merge_item_postings` ended: a sweep starts only once a
-- number was given since (blocks and marks a concurrent writer numbered during a sweep wait
-- for the next one).
CREATE TABLE item_posting_sweep (
    numbered bigint NOT NULL
);

INSERT INTO item_posting_sweep (numbered) VALUES (0);

-- What a merge step takes before it reads or numbers anything: `item` first (in the order a
-- TRUNCATE of it takes its tables, so the two wait for each other instead of deadlocking),
-- then the lock that orders it against writers that mark. Each of the step's statements must
-- see what committed before the lock, so the step runs at READ COMMITTED only (at REPEATABLE
-- READ it would read a snapshot taken before the lock and could bring dead postings back).
CREATE FUNCTION item_posting_merge_lock() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'merging postings needs READ COMMITTED, not %',
            current_setting('transaction_isolation')
            USING HINT = 'merge outside the transaction, or in one at READ COMMITTED';
    END IF;
    LOCK TABLE item IN ACCESS SHARE MODE;
    LOCK TABLE item_posting_dead IN SHARE ROW EXCLUSIVE MODE;
END
$$;

-- Writes the postings of up to `most_items` fresh items (the oldest ids first) into one new
-- block per term, and returns how many items it took (0 when none is fresh).
CREATE FUNCTION merge_fresh_item_postings(most_items integer) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT
-- Grouping a step's postings by term in memory (at 4 MB it spilled to disk).
SET work_mem = '64MB' AS $$
DECLARE
    merged_block bigint;
    taken bigint[];
BEGIN
    PERFORM item_posting_merge_lock();
    WITH oldest AS (
        DELETE FROM item_posting_fresh AS f
        WHERE f.item_id IN (
            SELECT x.item_id FROM item_posting_fresh AS x ORDER BY x.item_id LIMIT most_items
        )
        RETURNING f.item_id
    )
    SELECT array_agg(o.item_id) INTO taken FROM oldest AS o;
    IF taken IS NULL THEN
        RETURN 0;
    END IF;
    merged_block := nextval('item_posting_block_number');
    PERFORM item_posting_write(merged_block, taken);
    RETURN cardinality(taken);
END
$$;

-- Merges up to `most_terms` terms after `after` (from the first when NULL), in term order, and
-- returns the last term looked at (NULL past the last one, when marks no block needs any more
-- are dropped): a caller repeats it with that term until NULL, in short transactions. Per
-- term, the run of newest blocks that fit (see above) when it has four blocks or more, and any
-- block with more marks above it than postings, become one block without dead postings.
CREATE FUNCTION merge_item_postings(after text, most_terms integer) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT SET work_mem = '64MB' AS $$
DECLARE
    merged_block bigint;
    last_term text;
BEGIN
    IF after IS NULL
        AND item_posting_numbered() <= (SELECT s.numbered FROM item_posting_sweep AS s)
    THEN
        -- Nothing numbered since the last sweep ended: no block or mark to merge.
        RETURN NULL;
    END IF;
    PERFORM item_posting_merge_lock();
    merged_block := nextval('item_posting_block_number');
    SELECT max(t.term) INTO last_term
    FROM (
        SELECT DISTINCT p.term
        FROM item_posting AS p
        WHERE after IS NULL OR p.term > after
        ORDER BY p.term
        LIMIT most_terms
    ) AS t;
    IF last_term IS NULL THEN
        -- Past the last term: a mark below every block marks nothing any more.
        DELETE FROM item_posting_dead AS d
        WHERE d.before_block
            <= coalesce((SELECT min(p.block) FROM item_posting AS p), merged_block);
        UPDATE item_posting_sweep SET numbered = item_posting_numbered();
        RETURN NULL;
    END IF;
    WITH marks AS MATERIALIZED (
        -- Marks by number, with how many are at or above it (once per step, not per block).
        SELECT d.before_block, sum(count(*)) OVER (ORDER BY d.before_block DESC) AS at_or_above
        FROM item_posting_dead AS d
        GROUP BY d.before_block
    ),
    sized AS (
        SELECT p.term, p.block,
            -- A full block (65,536 postings or more) is merged no more.
            p.postings < 65536 AND p.postings <= 2 * coalesce(sum(p.postings) OVER (
                PARTITION BY p.term ORDER BY p.block DESC
                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
            ), p.postings) AS fits,
            -- A search reads the marks above a block with it: once they outnumber its
            -- postings, it is rewritten (numbered above them).
            coalesce((
                SELECT m.at_or_above FROM marks AS m
                WHERE m.before_block > p.block
                ORDER BY m.before_block
                LIMIT 1
            ), 0) > p.postings AS stale
        FROM item_posting AS p
        WHERE (after IS NULL OR p.term > after) AND p.term <= last_term
    ),
    runs AS (
        SELECT s.term, s.block, s.stale,
            bool_and(s.fits) OVER (
                PARTITION BY s.term ORDER BY s.block DESC ROWS UNBOUNDED PRECEDING
            ) AS in_run
        FROM sized AS s
    ),
    chosen AS (
        -- The run when it has four blocks or more, or when a stale block is rewritten anyway.
        SELECT r.term, r.block
        FROM (
            SELECT r.term, r.block, r.in_run, r.stale,
                count(*) FILTER (WHERE r.in_run) OVER (PARTITION BY r.term) AS run_length,
                bool_or(r.stale) OVER (PARTITION BY r.term) AS any_stale
            FROM runs AS r
        ) AS r
        WHERE (r.in_run AND (r.run_length >= 4 OR r.any_stale)) OR r.stale
    ),
    taken AS (
        DELETE FROM item_posting AS p
        USING chosen AS c
        WHERE p.term = c.term AND p.block = c.block
        RETURNING p.term, p.block, p.item_ids, p.title_tfs, p.content_tfs, p.title_lengths,
            p.content_lengths, p.source_ids
    ),
    dead AS (
        SELECT d.item_id, max(d.before_block) AS before_block
        FROM item_posting_dead AS d
        GROUP BY d.item_id
    )
    INSERT INTO item_posting (term, block, postings, item_ids, title_tfs, content_tfs,
        title_lengths, content_lengths, source_ids)
    SELECT p.term, merged_block, count(*), array_agg(p.item_id), array_agg(p.title_tf),
        array_agg(p.content_tf), array_agg(p.title_length), array_agg(p.content_length),
        array_agg(p.source_id)
    FROM (
        SELECT t.term, u.*
        FROM taken AS t
            CROSS JOIN LATERAL unnest(t.item_ids, t.title_tfs, t.content_tfs, t.title_lengths,
                t.content_lengths, t.source_ids)
                AS u(item_id, title_tf, content_tf, title_length, content_length, source_id)
            LEFT JOIN dead AS d ON d.item_id = u.item_id AND d.before_block > t.block
        WHERE d.item_id IS NULL
    ) AS p
    GROUP BY p.term;
    RETURN last_term;
END
$$;

-- Items written before this migration: fresh, then merged.
SELECT item_posting_fresh_add(array(SELECT i.id FROM item AS i),
    array(SELECT DISTINCT i.source FROM item AS i));
SELECT merge_fresh_item_postings(2147483647);
