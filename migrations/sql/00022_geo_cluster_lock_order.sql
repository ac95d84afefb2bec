-- +goose Up
-- Concurrent writers of one collection could deadlock (SQLSTATE 40P01) in
-- geo_cluster_cells_sync: a statement locks the cells it changes in one
-- order (collection, z, gx, gy), but a transaction of several statements, or
-- an upsert (which fires the insert and then the update trigger), locks them
-- in several ordered passes, and two such transactions can each hold a cell
-- the other's next pass needs: A writes a point in the north-east, B one in
-- the south-west, then A one in the south-west and B one in the north-east.
--
-- The trigger now first takes a transaction-scoped advisory lock per
-- collection whose geometries the statement changes (key 1734700899 =
-- 'geoc', collection id), in collection order, before locking any cell. Cell
-- maintenance of a collection is then serialised per transaction, so cell
-- locks cannot form a cycle. Little concurrency is lost: writers of one
-- quadrant already queued on its zoom-0 cell until commit. Statements that
-- change no geometry (embeddings, titles) take no lock. The stats trigger
-- (00020) fires after this one and so always locks after it.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION geo_cluster_cells_sync() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    src text;
    cid bigint;
BEGIN
    -- src lists (collection_id, id, geom, sign) of the rows this statement
    -- added (+1) or removed (-1); the SQL around it is the same for all.
    IF TG_OP = 'INSERT' THEN
        src := 'SELECT collection_id, id, geom, 1 AS sign FROM new_rows WHERE geom IS NOT NULL';
    ELSIF TG_OP = 'DELETE' THEN
        src := 'SELECT collection_id, id, geom, -1 AS sign FROM old_rows WHERE geom IS NOT NULL';
    ELSE
        src := 'SELECT n.collection_id, n.id, n.geom, 1 AS sign FROM new_rows n JOIN old_rows o ON o.id = n.id
                 WHERE n.geom IS NOT NULL AND (n.geom IS DISTINCT FROM o.geom OR n.collection_id <> o.collection_id)
                UNION ALL
                SELECT o.collection_id, o.id, o.geom, -1 AS sign FROM old_rows o JOIN new_rows n ON n.id = o.id
                 WHERE o.geom IS NOT NULL AND (n.geom IS DISTINCT FROM o.geom OR n.collection_id <> o.collection_id)';
    END IF;
    -- Take the collection's lock before touching any of its cells; the lock
    -- is held until commit (see the header of migration 00022).
    FOR cid IN EXECUTE format('SELECT DISTINCT collection_id FROM (%s) d ORDER BY 1', src) LOOP
        PERFORM pg_advisory_xact_lock(1734700899, (cid % 2147483647)::int);
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
    IF TG_OP <> 'INSERT' THEN
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
    END IF;
    RETURN NULL;
END;
$fn$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION geo_cluster_cells_sync() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    src text;
BEGIN
    -- src lists (collection_id, id, geom, sign) of the rows this statement
    -- added (+1) or removed (-1); the SQL around it is the same for all.
    IF TG_OP = 'INSERT' THEN
        src := 'SELECT collection_id, id, geom, 1 AS sign FROM new_rows WHERE geom IS NOT NULL';
    ELSIF TG_OP = 'DELETE' THEN
        src := 'SELECT collection_id, id, geom, -1 AS sign FROM old_rows WHERE geom IS NOT NULL';
    ELSE
        src := 'SELECT n.collection_id, n.id, n.geom, 1 AS sign FROM new_rows n JOIN old_rows o ON o.id = n.id
                 WHERE n.geom IS NOT NULL AND (n.geom IS DISTINCT FROM o.geom OR n.collection_id <> o.collection_id)
                UNION ALL
                SELECT o.collection_id, o.id, o.geom, -1 AS sign FROM old_rows o JOIN new_rows n ON n.id = o.id
                 WHERE o.geom IS NOT NULL AND (n.geom IS DISTINCT FROM o.geom OR n.collection_id <> o.collection_id)';
    END IF;
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
    IF TG_OP <> 'INSERT' THEN
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
    END IF;
    RETURN NULL;
END;
$fn$;
-- +goose StatementEnd
