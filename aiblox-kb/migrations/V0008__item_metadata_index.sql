-- Metadata conditions a filter holds at its top (`lang = "en"` and the like) narrow the items
-- through this index before the whole filter is evaluated (`item_filter_matches_narrowed`).
-- Built without blocking writes; rerun safely (a failed build leaves an invalid index behind).
-- aiblox:no-transaction
DROP INDEX CONCURRENTLY IF EXISTS item_metadata_path_idx;
CREATE INDEX CONCURRENTLY item_metadata_path_idx ON item USING gin (metadata jsonb_path_ops);
