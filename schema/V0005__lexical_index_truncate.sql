-- TRUNCATE of `item` empties the lexical index with it: TRUNCATE fires no row or DELETE
-- triggers, and `item_term` has no foreign key to `item` (it would cost every write a check),
-- so without this the corpus totals and lengths of removed items stayed behind.
CREATE FUNCTION item_term_after_truncate() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    TRUNCATE item_term;
    -- Totals to zero; the version grows, so readers drop the postings they keep.
    UPDATE item_term_stats
    SET items = 0, title_length = 0, content_length = 0, version = version + 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER item_term_after_truncate
    AFTER TRUNCATE ON item
    FOR EACH STATEMENT EXECUTE FUNCTION item_term_after_truncate();
