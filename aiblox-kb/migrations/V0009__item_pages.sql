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
