-- Where each page of a paged document (a PDF, a Word file) starts in its content: byte
-- offsets, the first 0, non-decreasing (an empty page starts where the next does), none past
-- the content's end. NULL for items without pages. The contract checks each array on write;
-- this check holds what one statement can check cheaply.
ALTER TABLE item ADD COLUMN page_starts integer[];
ALTER TABLE item ADD CONSTRAINT item_page_starts_check CHECK (
    page_starts IS NULL
    OR (array_ndims(page_starts) = 1 AND page_starts[1] = 0
        AND cardinality(page_starts) <= 100000)
) NOT VALID;
-- NOT VALID: every row written from now on is checked; the rows already there hold NULL,
-- which passes, so they are not scanned (a scan would hold the table's lock that long).

-- Search results carry their items' page starts, and readers keep those by the lexical
-- index's version: a change of pages alone (source, title and content the same) grows the
-- version too, as a source-only change does (V0006), so no reader cites old pages.
CREATE FUNCTION item_pages_after_update() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    IF EXISTS (
        SELECT FROM old_rows AS o
            JOIN new_rows AS n ON n.id = o.id
        WHERE o.page_starts IS DISTINCT FROM n.page_starts
            AND (o.source, o.title, o.content) IS NOT DISTINCT FROM (n.source, n.title, n.content)
    ) THEN
        PERFORM item_term_stats_add(0, 0, 0);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER item_pages_after_update
    AFTER UPDATE ON item REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION item_pages_after_update();
