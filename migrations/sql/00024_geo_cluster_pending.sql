-- +goose Up
-- (Version 23 is taken in databases made before a former 00023 was folded
-- into 00020.)
-- Writers of one collection no longer queue behind each other for the
-- cluster pyramid.
--
-- Until now every statement that added geometries upserted its cells at
-- all nine levels under the collection's lock (migration 00022), held to
-- commit: with one zoom-0 cell per quadrant, concurrent writers of a
-- collection ran one transaction at a time. Photo ingest spent most of its
-- time in that queue (pg_stat_activity during a bench import: 8 of 19
-- active backends waiting on Lock:transactionid).
--
-- Now an insert takes the collection's lock only if it is free
-- (pg_try_advisory_xact_lock): then it folds what other writers left
-- pending and writes its cells directly, as before; otherwise it appends
-- its cell deltas to geo_cluster_pending, which takes no lock another
-- writer waits for. At most one writer at a time writes the cells, nobody
-- waits for it. Updates and deletes, which must subtract
-- from cells, take the lock as before and fold first. Readers add the
-- pending deltas while there are any (geo_cluster_cells_at), so clusters
-- and tiles are exact whether or not the deltas were folded yet.
CREATE TABLE geo_cluster_pending (
    collection_id bigint NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    z             smallint NOT NULL,
    gx            integer NOT NULL,
    gy            integer NOT NULL,
    count         bigint NOT NULL,
    sumx          double precision NOT NULL,
    sumy          double precision NOT NULL,
    minx          double precision,
    miny          double precision,
    maxx          double precision,
    maxy          double precision,
    rep_id        bigint
);
CREATE INDEX geo_cluster_pending_collection_idx ON geo_cluster_pending (collection_id);

-- geo_cluster_fold, geo_cluster_cells_at and geo_cluster_cells_sync live in migrations/functions/21_geo_cluster_cells.sql.

-- +goose Down
-- +goose StatementBegin
DO $$ BEGIN
    RAISE EXCEPTION 'geoseek migrates forward only: geo_cluster_cells_sync (migrations/functions/21_geo_cluster_cells.sql) uses what this migration made';
END $$;
-- +goose StatementEnd
