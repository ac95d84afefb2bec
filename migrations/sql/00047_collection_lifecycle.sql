-- +goose Up
-- Collections can be deleted (DELETE /collections/{c}). A delete first
-- marks the collection in one short transaction: deleted_at is set and the
-- name becomes NULL, so every lookup by name misses it at once and the name
-- is free for a new collection (UNIQUE lets any number of NULLs be). Its
-- documents are then removed in batches by a background job
-- (internal/document, lifecycle.go), and the collection row last; rows of
-- other collections are never locked by it.
ALTER TABLE collections ADD COLUMN deleted_at timestamptz;
ALTER TABLE collections ALTER COLUMN name DROP NOT NULL;
ALTER TABLE collections ADD CONSTRAINT collections_deleted_no_name
    CHECK ((name IS NULL) = (deleted_at IS NOT NULL));
CREATE INDEX collections_deleted_idx ON collections (id) WHERE deleted_at IS NOT NULL;

-- photo_file_removals lists the originals (and their thumbnails) whose photo
-- rows were deleted: a row is written in the transaction that deletes the
-- photo, and removed after the files are. A crash in between leaves the row,
-- so the file is removed later (by the next delete batch or the start-up
-- sweep) instead of being adopted back as a new photo by the orphan sweep.
-- A later upload of the same bytes keeps its file: the remover skips a
-- SHA-256 that has a photos row again.
CREATE TABLE photo_file_removals (
    sha256      bytea PRIMARY KEY CHECK (length(sha256) = 32),
    storage_key text NOT NULL,
    queued_at   timestamptz NOT NULL DEFAULT now()
);

-- The cluster pyramid's trigger (migration 00024) skips the documents of
-- a deleted collection: the purge deletes its cells first. Only the
-- DELETE branch's source of rows differs from 00024.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION geo_cluster_cells_sync() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    src    text;
    cid    bigint;
    locked bigint[] := '{}';
BEGIN
    IF TG_OP = 'INSERT' THEN
        -- The collections whose fold lock is free now: this transaction
        -- writes their cells directly (after folding what others left
        -- pending); for the others its deltas go to geo_cluster_pending.
        -- Nobody waits either way.
        FOR cid IN SELECT DISTINCT n.collection_id FROM new_rows n WHERE n.geom IS NOT NULL ORDER BY 1 LOOP
            IF pg_try_advisory_xact_lock(1734700899, (cid % 2147483647)::int) THEN
                locked := locked || cid;
                IF EXISTS (SELECT 1 FROM geo_cluster_pending p WHERE p.collection_id = cid) THEN
                    PERFORM geo_cluster_fold(cid);
                END IF;
            END IF;
        END LOOP;
        -- Static SQL: PL/pgSQL caches its plan. The dynamic statements
        -- below (shared by updates and deletes) are planned on every call,
        -- which cost a one-row insert about 0.6 ms.
        WITH d AS (
            SELECT b.collection_id, z, b.gx >> (8 - z) AS gx, b.gy >> (8 - z) AS gy,
                   sum(b.n) AS n, sum(b.sx) AS sx, sum(b.sy) AS sy,
                   min(b.minx) AS minx, min(b.miny) AS miny, max(b.maxx) AS maxx, max(b.maxy) AS maxy, min(b.rep) AS rep
              FROM (
                -- zoom 8 cells (0.3515625 degrees) of this statement's rows
                SELECT r.collection_id,
                       floor(r.cx / 0.3515625)::int AS gx, floor(r.cy / 0.3515625)::int AS gy,
                       count(*) AS n, sum(r.cx) AS sx, sum(r.cy) AS sy,
                       min(r.x0) AS minx, min(r.y0) AS miny, max(r.x1) AS maxx, max(r.y1) AS maxy, min(r.id) AS rep
                  FROM (SELECT n.collection_id, n.id, ST_XMin(n.geom) AS x0, ST_YMin(n.geom) AS y0,
                               ST_XMax(n.geom) AS x1, ST_YMax(n.geom) AS y1,
                               (ST_XMin(n.geom) + ST_XMax(n.geom)) / 2 AS cx, (ST_YMin(n.geom) + ST_YMax(n.geom)) / 2 AS cy
                          FROM new_rows n WHERE n.geom IS NOT NULL) r
                 GROUP BY 1, 2, 3) b,
                   generate_series(0, 8) AS z
             GROUP BY 1, 2, 3, 4
        ), direct AS (
            INSERT INTO geo_cluster_cells AS t (collection_id, z, gx, gy, count, sumx, sumy, minx, miny, maxx, maxy, rep_id)
            SELECT collection_id, z, gx, gy, n, sx, sy, minx, miny, maxx, maxy, rep
              FROM d WHERE collection_id = ANY (locked)
             ORDER BY collection_id, z, gx, gy
            ON CONFLICT (collection_id, z, gx, gy) DO UPDATE SET
                count = t.count + EXCLUDED.count,
                sumx = t.sumx + EXCLUDED.sumx,
                sumy = t.sumy + EXCLUDED.sumy,
                minx = LEAST(t.minx, EXCLUDED.minx),
                miny = LEAST(t.miny, EXCLUDED.miny),
                maxx = GREATEST(t.maxx, EXCLUDED.maxx),
                maxy = GREATEST(t.maxy, EXCLUDED.maxy),
                rep_id = LEAST(t.rep_id, EXCLUDED.rep_id)
        )
        INSERT INTO geo_cluster_pending (collection_id, z, gx, gy, count, sumx, sumy, minx, miny, maxx, maxy, rep_id)
        SELECT collection_id, z, gx, gy, n, sx, sy, minx, miny, maxx, maxy, rep
          FROM d WHERE collection_id <> ALL (locked);
        RETURN NULL;
    END IF;
    -- src lists (collection_id, id, geom, sign) of the rows this statement
    -- removed (-1), or for an update moved (-1 at the old place, +1 at the
    -- new one).
    IF TG_OP = 'DELETE' THEN
        -- Rows of a collection marked deleted (migration 00043) change no
        -- cell: its cells were deleted with it, and subtracting its
        -- documents batch by batch would cost as much as writing them.
        src := 'SELECT o.collection_id, o.id, o.geom, -1 AS sign FROM old_rows o WHERE o.geom IS NOT NULL
                 AND NOT EXISTS (SELECT 1 FROM collections k WHERE k.id = o.collection_id AND k.deleted_at IS NOT NULL)';
    ELSE
        src := 'SELECT n.collection_id, n.id, n.geom, 1 AS sign FROM new_rows n JOIN old_rows o ON o.id = n.id
                 WHERE n.geom IS NOT NULL AND (n.geom IS DISTINCT FROM o.geom OR n.collection_id <> o.collection_id)
                UNION ALL
                SELECT o.collection_id, o.id, o.geom, -1 AS sign FROM old_rows o JOIN new_rows n ON n.id = o.id
                 WHERE o.geom IS NOT NULL AND (n.geom IS DISTINCT FROM o.geom OR n.collection_id <> o.collection_id)';
    END IF;
    -- Subtracting needs every committed delta in the cells: take each
    -- collection's lock, in collection order (see 00022), and fold.
    FOR cid IN EXECUTE format('SELECT DISTINCT collection_id FROM (%s) d ORDER BY 1', src) LOOP
        PERFORM pg_advisory_xact_lock(1734700899, (cid % 2147483647)::int);
        PERFORM geo_cluster_fold(cid);
    END LOOP;
    EXECUTE format($q$
        WITH delta AS (%s),
        base AS (
            -- zoom 8 cells (0.3515625 degrees) of this statement's rows
            SELECT collection_id,
                   floor(((ST_XMin(geom) + ST_XMax(geom)) / 2) / 0.3515625)::int AS gx,
                   floor(((ST_YMin(geom) + ST_YMax(geom)) / 2) / 0.3515625)::int AS gy,
                   sum(sign) AS n,
                   sum(sign * (ST_XMin(geom) + ST_XMax(geom)) / 2) AS sx,
                   sum(sign * (ST_YMin(geom) + ST_YMax(geom)) / 2) AS sy,
                   min(ST_XMin(geom)) FILTER (WHERE sign > 0) AS minx,
                   min(ST_YMin(geom)) FILTER (WHERE sign > 0) AS miny,
                   max(ST_XMax(geom)) FILTER (WHERE sign > 0) AS maxx,
                   max(ST_YMax(geom)) FILTER (WHERE sign > 0) AS maxy,
                   min(id) FILTER (WHERE sign > 0) AS rep
              FROM delta
             -- a collection being deleted takes its cells with it (cascade)
             WHERE EXISTS (SELECT 1 FROM collections k WHERE k.id = delta.collection_id)
             GROUP BY 1, 2, 3
        ),
        c AS (
            -- every level: an arithmetic shift is floor division, also for
            -- negative indexes
            SELECT collection_id, z, gx >> (8 - z) AS gx, gy >> (8 - z) AS gy,
                   sum(n) AS n, sum(sx) AS sx, sum(sy) AS sy, min(minx) AS minx, min(miny) AS miny,
                   max(maxx) AS maxx, max(maxy) AS maxy, min(rep) AS rep
              FROM base, generate_series(0, 8) AS z
             GROUP BY 1, 2, 3, 4
        )
        INSERT INTO geo_cluster_cells AS t (collection_id, z, gx, gy, count, sumx, sumy, minx, miny, maxx, maxy, rep_id)
        SELECT collection_id, z, gx, gy, n, sx, sy, minx, miny, maxx, maxy, rep FROM c
         ORDER BY collection_id, z, gx, gy -- one lock order for concurrent writers
        ON CONFLICT (collection_id, z, gx, gy) DO UPDATE SET
            count = t.count + EXCLUDED.count,
            sumx = t.sumx + EXCLUDED.sumx,
            sumy = t.sumy + EXCLUDED.sumy,
            minx = LEAST(t.minx, EXCLUDED.minx),
            miny = LEAST(t.miny, EXCLUDED.miny),
            maxx = GREATEST(t.maxx, EXCLUDED.maxx),
            maxy = GREATEST(t.maxy, EXCLUDED.maxy),
            rep_id = LEAST(t.rep_id, EXCLUDED.rep_id)
    $q$, src);
    DELETE FROM geo_cluster_cells WHERE count <= 0;
    EXECUTE format($q$
        UPDATE geo_cluster_cells t SET rep_id = (
            SELECT min(d.id) FROM documents d, LATERAL (SELECT 90.0 / (1 << t.z) AS size) s
             WHERE d.collection_id = t.collection_id
               AND d.geom && ST_MakeEnvelope(t.gx * s.size - 1e-9, t.gy * s.size - 1e-9,
                                             (t.gx + 1) * s.size + 1e-9, (t.gy + 1) * s.size + 1e-9, 4326)
               AND floor(((ST_XMin(d.geom) + ST_XMax(d.geom)) / 2) / s.size)::int = t.gx
               AND floor(((ST_YMin(d.geom) + ST_YMax(d.geom)) / 2) / s.size)::int = t.gy)
         WHERE (t.collection_id, t.rep_id) IN (SELECT collection_id, id FROM (%s) x WHERE sign < 0)
    $q$, src);
    RETURN NULL;
END;
$fn$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION geo_cluster_cells_sync() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    src    text;
    cid    bigint;
    locked bigint[] := '{}';
BEGIN
    IF TG_OP = 'INSERT' THEN
        -- The collections whose fold lock is free now: this transaction
        -- writes their cells directly (after folding what others left
        -- pending); for the others its deltas go to geo_cluster_pending.
        -- Nobody waits either way.
        FOR cid IN SELECT DISTINCT n.collection_id FROM new_rows n WHERE n.geom IS NOT NULL ORDER BY 1 LOOP
            IF pg_try_advisory_xact_lock(1734700899, (cid % 2147483647)::int) THEN
                locked := locked || cid;
                IF EXISTS (SELECT 1 FROM geo_cluster_pending p WHERE p.collection_id = cid) THEN
                    PERFORM geo_cluster_fold(cid);
                END IF;
            END IF;
        END LOOP;
        -- Static SQL: PL/pgSQL caches its plan. The dynamic statements
        -- below (shared by updates and deletes) are planned on every call,
        -- which cost a one-row insert about 0.6 ms.
        WITH d AS (
            SELECT b.collection_id, z, b.gx >> (8 - z) AS gx, b.gy >> (8 - z) AS gy,
                   sum(b.n) AS n, sum(b.sx) AS sx, sum(b.sy) AS sy,
                   min(b.minx) AS minx, min(b.miny) AS miny, max(b.maxx) AS maxx, max(b.maxy) AS maxy, min(b.rep) AS rep
              FROM (
                -- zoom 8 cells (0.3515625 degrees) of this statement's rows
                SELECT r.collection_id,
                       floor(r.cx / 0.3515625)::int AS gx, floor(r.cy / 0.3515625)::int AS gy,
                       count(*) AS n, sum(r.cx) AS sx, sum(r.cy) AS sy,
                       min(r.x0) AS minx, min(r.y0) AS miny, max(r.x1) AS maxx, max(r.y1) AS maxy, min(r.id) AS rep
                  FROM (SELECT n.collection_id, n.id, ST_XMin(n.geom) AS x0, ST_YMin(n.geom) AS y0,
                               ST_XMax(n.geom) AS x1, ST_YMax(n.geom) AS y1,
                               (ST_XMin(n.geom) + ST_XMax(n.geom)) / 2 AS cx, (ST_YMin(n.geom) + ST_YMax(n.geom)) / 2 AS cy
                          FROM new_rows n WHERE n.geom IS NOT NULL) r
                 GROUP BY 1, 2, 3) b,
                   generate_series(0, 8) AS z
             GROUP BY 1, 2, 3, 4
        ), direct AS (
            INSERT INTO geo_cluster_cells AS t (collection_id, z, gx, gy, count, sumx, sumy, minx, miny, maxx, maxy, rep_id)
            SELECT collection_id, z, gx, gy, n, sx, sy, minx, miny, maxx, maxy, rep
              FROM d WHERE collection_id = ANY (locked)
             ORDER BY collection_id, z, gx, gy
            ON CONFLICT (collection_id, z, gx, gy) DO UPDATE SET
                count = t.count + EXCLUDED.count,
                sumx = t.sumx + EXCLUDED.sumx,
                sumy = t.sumy + EXCLUDED.sumy,
                minx = LEAST(t.minx, EXCLUDED.minx),
                miny = LEAST(t.miny, EXCLUDED.miny),
                maxx = GREATEST(t.maxx, EXCLUDED.maxx),
                maxy = GREATEST(t.maxy, EXCLUDED.maxy),
                rep_id = LEAST(t.rep_id, EXCLUDED.rep_id)
        )
        INSERT INTO geo_cluster_pending (collection_id, z, gx, gy, count, sumx, sumy, minx, miny, maxx, maxy, rep_id)
        SELECT collection_id, z, gx, gy, n, sx, sy, minx, miny, maxx, maxy, rep
          FROM d WHERE collection_id <> ALL (locked);
        RETURN NULL;
    END IF;
    -- src lists (collection_id, id, geom, sign) of the rows this statement
    -- removed (-1), or for an update moved (-1 at the old place, +1 at the
    -- new one).
    IF TG_OP = 'DELETE' THEN
        src := 'SELECT collection_id, id, geom, -1 AS sign FROM old_rows WHERE geom IS NOT NULL';
    ELSE
        src := 'SELECT n.collection_id, n.id, n.geom, 1 AS sign FROM new_rows n JOIN old_rows o ON o.id = n.id
                 WHERE n.geom IS NOT NULL AND (n.geom IS DISTINCT FROM o.geom OR n.collection_id <> o.collection_id)
                UNION ALL
                SELECT o.collection_id, o.id, o.geom, -1 AS sign FROM old_rows o JOIN new_rows n ON n.id = o.id
                 WHERE o.geom IS NOT NULL AND (n.geom IS DISTINCT FROM o.geom OR n.collection_id <> o.collection_id)';
    END IF;
    -- Subtracting needs every committed delta in the cells: take each
    -- collection's lock, in collection order (see 00022), and fold.
    FOR cid IN EXECUTE format('SELECT DISTINCT collection_id FROM (%s) d ORDER BY 1', src) LOOP
        PERFORM pg_advisory_xact_lock(1734700899, (cid % 2147483647)::int);
        PERFORM geo_cluster_fold(cid);
    END LOOP;
    EXECUTE format($q$
        WITH delta AS (%s),
        base AS (
            -- zoom 8 cells (0.3515625 degrees) of this statement's rows
            SELECT collection_id,
                   floor(((ST_XMin(geom) + ST_XMax(geom)) / 2) / 0.3515625)::int AS gx,
                   floor(((ST_YMin(geom) + ST_YMax(geom)) / 2) / 0.3515625)::int AS gy,
                   sum(sign) AS n,
                   sum(sign * (ST_XMin(geom) + ST_XMax(geom)) / 2) AS sx,
                   sum(sign * (ST_YMin(geom) + ST_YMax(geom)) / 2) AS sy,
                   min(ST_XMin(geom)) FILTER (WHERE sign > 0) AS minx,
                   min(ST_YMin(geom)) FILTER (WHERE sign > 0) AS miny,
                   max(ST_XMax(geom)) FILTER (WHERE sign > 0) AS maxx,
                   max(ST_YMax(geom)) FILTER (WHERE sign > 0) AS maxy,
                   min(id) FILTER (WHERE sign > 0) AS rep
              FROM delta
             -- a collection being deleted takes its cells with it (cascade)
             WHERE EXISTS (SELECT 1 FROM collections k WHERE k.id = delta.collection_id)
             GROUP BY 1, 2, 3
        ),
        c AS (
            -- every level: an arithmetic shift is floor division, also for
            -- negative indexes
            SELECT collection_id, z, gx >> (8 - z) AS gx, gy >> (8 - z) AS gy,
                   sum(n) AS n, sum(sx) AS sx, sum(sy) AS sy, min(minx) AS minx, min(miny) AS miny,
                   max(maxx) AS maxx, max(maxy) AS maxy, min(rep) AS rep
              FROM base, generate_series(0, 8) AS z
             GROUP BY 1, 2, 3, 4
        )
        INSERT INTO geo_cluster_cells AS t (collection_id, z, gx, gy, count, sumx, sumy, minx, miny, maxx, maxy, rep_id)
        SELECT collection_id, z, gx, gy, n, sx, sy, minx, miny, maxx, maxy, rep FROM c
         ORDER BY collection_id, z, gx, gy -- one lock order for concurrent writers
        ON CONFLICT (collection_id, z, gx, gy) DO UPDATE SET
            count = t.count + EXCLUDED.count,
            sumx = t.sumx + EXCLUDED.sumx,
            sumy = t.sumy + EXCLUDED.sumy,
            minx = LEAST(t.minx, EXCLUDED.minx),
            miny = LEAST(t.miny, EXCLUDED.miny),
            maxx = GREATEST(t.maxx, EXCLUDED.maxx),
            maxy = GREATEST(t.maxy, EXCLUDED.maxy),
            rep_id = LEAST(t.rep_id, EXCLUDED.rep_id)
    $q$, src);
    DELETE FROM geo_cluster_cells WHERE count <= 0;
    EXECUTE format($q$
        UPDATE geo_cluster_cells t SET rep_id = (
            SELECT min(d.id) FROM documents d, LATERAL (SELECT 90.0 / (1 << t.z) AS size) s
             WHERE d.collection_id = t.collection_id
               AND d.geom && ST_MakeEnvelope(t.gx * s.size - 1e-9, t.gy * s.size - 1e-9,
                                             (t.gx + 1) * s.size + 1e-9, (t.gy + 1) * s.size + 1e-9, 4326)
               AND floor(((ST_XMin(d.geom) + ST_XMax(d.geom)) / 2) / s.size)::int = t.gx
               AND floor(((ST_YMin(d.geom) + ST_YMax(d.geom)) / 2) / s.size)::int = t.gy)
         WHERE (t.collection_id, t.rep_id) IN (SELECT collection_id, id FROM (%s) x WHERE sign < 0)
    $q$, src);
    RETURN NULL;
END;
$fn$;
-- +goose StatementEnd

DROP TABLE photo_file_removals;
DELETE FROM collections WHERE deleted_at IS NOT NULL;
DROP INDEX collections_deleted_idx;
ALTER TABLE collections DROP CONSTRAINT collections_deleted_no_name;
ALTER TABLE collections ALTER COLUMN name SET NOT NULL;
ALTER TABLE collections DROP COLUMN deleted_at;
