-- +goose Up
-- Writers of one collection no longer queue behind each other for its
-- stats row (migration 00020) either.
--
-- A statement that grows the collection's extents (a photo newer than all
-- before it grows t_max: a library uploaded in the order it was shot grows
-- it with every photo) updated geo_collection_stats and held that row's
-- lock to commit, so concurrent writers ran one at a time. Now, as for the
-- cluster cells (00024), only a writer that gets the collection's stats
-- lock without waiting (pg_try_advisory_xact_lock, key 1734702963 = 'geos')
-- updates the row, after merging what others left in
-- geo_collection_stats_pending; the others append their growth there.
-- Stats only grow between refreshes, so merging later gives the same row.
-- Readers merge the pending rows in (geo_collection_stats_merged).
CREATE TABLE geo_collection_stats_pending (
    collection_id bigint NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    minx          double precision,
    miny          double precision,
    maxx          double precision,
    maxy          double precision,
    t_min         timestamptz,
    t_max         timestamptz,
    prop_keys     text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX geo_collection_stats_pending_collection_idx ON geo_collection_stats_pending (collection_id);

-- geo_collection_stats_fold, geo_collection_stats_grow and geo_refresh_collection_stats live in migrations/functions/20_geo_collection_stats.sql.

-- +goose Down
-- +goose StatementBegin
DO $$ BEGIN
    RAISE EXCEPTION 'geoseek migrates forward only: geo_collection_stats_grow (migrations/functions/20_geo_collection_stats.sql) uses what this migration made';
END $$;
-- +goose StatementEnd
