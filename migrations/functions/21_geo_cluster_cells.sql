-- geo_cluster_cells (its tables: migrations 00021 and 00024) is a grid
-- pyramid for /collections/{c}/clusters and the clustered vector tiles:
-- every level of zooms 0 to 8, a row per collection, zoom and cell, so a
-- zoom of the whole world is read by primary key instead of sorted. A cell
-- of zoom z is 90 / 2^z degrees, anchored at lon 0 / lat 0; a document
-- belongs to the cell of the centre of its bounding box. A write updates
-- one cell per level.
--
-- Writers of one collection do not queue behind each other: an insert
-- takes the collection's lock (key 1734700899 = 'geoc', collection id)
-- only if it is free (pg_try_advisory_xact_lock); then it folds what other
-- writers left pending and writes its cells directly; otherwise it appends
-- its cell deltas to geo_cluster_pending, which takes no lock another
-- writer waits for. Updates and deletes, which must subtract from cells,
-- take the lock (waiting) and fold first. The lock is taken per collection
-- in collection order before any cell, so cell locks cannot form a cycle
-- between transactions of several statements. Readers add the pending
-- deltas while there are any (geo_cluster_cells_at), so clusters and tiles
-- are exact whether or not the deltas were folded yet.

-- geo_cluster_fold moves the pending deltas of a collection that this
-- transaction can see into geo_cluster_cells. The caller holds the
-- collection's lock (key 1734700899 = 'geoc', collection id), so folds of
-- one collection never overlap; deltas of transactions still running stay
-- pending for a later fold.
CREATE OR REPLACE FUNCTION geo_cluster_fold(cid bigint) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    -- PL/pgSQL caches this statement's plan per session; a SQL function
    -- would be planned on every call (docs/performance.md).
    WITH moved AS (
        DELETE FROM geo_cluster_pending WHERE collection_id = cid
        RETURNING collection_id, z, gx, gy, count, sumx, sumy, minx, miny, maxx, maxy, rep_id
    )
    INSERT INTO geo_cluster_cells AS t (collection_id, z, gx, gy, count, sumx, sumy, minx, miny, maxx, maxy, rep_id)
    SELECT collection_id, z, gx, gy, sum(count), sum(sumx), sum(sumy), min(minx), min(miny), max(maxx), max(maxy), min(rep_id)
      FROM moved
     GROUP BY collection_id, z, gx, gy
     ORDER BY collection_id, z, gx, gy
    ON CONFLICT (collection_id, z, gx, gy) DO UPDATE SET
        count = t.count + EXCLUDED.count,
        sumx = t.sumx + EXCLUDED.sumx,
        sumy = t.sumy + EXCLUDED.sumy,
        minx = LEAST(t.minx, EXCLUDED.minx),
        miny = LEAST(t.miny, EXCLUDED.miny),
        maxx = GREATEST(t.maxx, EXCLUDED.maxx),
        maxy = GREATEST(t.maxy, EXCLUDED.maxy),
        rep_id = LEAST(t.rep_id, EXCLUDED.rep_id);
END;
$fn$;

-- geo_cluster_cells_at is the cells of one level in a range of a
-- collection, pending deltas included: the table itself while the
-- collection has none (the usual case: a writer that finds the lock free
-- folds at once), merged with them otherwise. PL/pgSQL caches the plans of
-- both statements per session, so the function costs no more than a plain
-- read of the table, where an inlined SQL union is planned on every call
-- (docs/performance.md).
CREATE OR REPLACE FUNCTION geo_cluster_cells_at(cid bigint, zoom integer, gx0 integer, gx1 integer, gy0 integer, gy1 integer)
RETURNS SETOF geo_cluster_cells
LANGUAGE plpgsql STABLE ROWS 200 AS $fn$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM geo_cluster_pending p WHERE p.collection_id = cid) THEN
        RETURN QUERY
        SELECT c.*
          FROM geo_cluster_cells c
         WHERE c.collection_id = cid AND c.z = zoom AND c.gx BETWEEN gx0 AND gx1 AND c.gy BETWEEN gy0 AND gy1;
        RETURN;
    END IF;
    RETURN QUERY
    SELECT cid, zoom::smallint, u.gx, u.gy, sum(u.count)::bigint, sum(u.sumx), sum(u.sumy),
           min(u.minx), min(u.miny), max(u.maxx), max(u.maxy), min(u.rep_id)
      FROM (SELECT c.gx, c.gy, c.count, c.sumx, c.sumy, c.minx, c.miny, c.maxx, c.maxy, c.rep_id
              FROM geo_cluster_cells c
             WHERE c.collection_id = cid AND c.z = zoom AND c.gx BETWEEN gx0 AND gx1 AND c.gy BETWEEN gy0 AND gy1
            UNION ALL
            SELECT p.gx, p.gy, p.count, p.sumx, p.sumy, p.minx, p.miny, p.maxx, p.maxy, p.rep_id
              FROM geo_cluster_pending p
             WHERE p.collection_id = cid AND p.z = zoom AND p.gx BETWEEN gx0 AND gx1 AND p.gy BETWEEN gy0 AND gy1) u
     GROUP BY u.gx, u.gy;
END;
$fn$;

-- geo_cluster_cells_sync is the trigger function: it skips the documents
-- of a deleted collection (the purge deletes its cells first).
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
        -- Rows of a collection marked deleted (collections.deleted_at) change no
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
    -- collection's lock, in collection order (see the top of this file), and fold.
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

CREATE OR REPLACE TRIGGER geo_cluster_cells_insert
AFTER INSERT ON documents REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION geo_cluster_cells_sync();

CREATE OR REPLACE TRIGGER geo_cluster_cells_update
AFTER UPDATE ON documents REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION geo_cluster_cells_sync();

CREATE OR REPLACE TRIGGER geo_cluster_cells_delete
AFTER DELETE ON documents REFERENCING OLD TABLE AS old_rows
FOR EACH STATEMENT EXECUTE FUNCTION geo_cluster_cells_sync();
