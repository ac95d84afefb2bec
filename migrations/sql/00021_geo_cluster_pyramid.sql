-- +goose Up
-- geo_cluster_cells is a grid pyramid for /collections/{c}/clusters and the
-- clustered vector tiles: every level of zooms 0 to 8 (a row per collection,
-- zoom and cell), so reading zoom 3 of the whole world reads at most 512 rows
-- by primary key instead of sorting ~32,000 (40 ms). Levels 7 and 8 also
-- serve the clustered vector tiles up to tile zoom 7 (a 64 px cell of a
-- 512 px tile of zoom z is a cell of level z + 1). A write updates one cell
-- per level (9 rows).

-- A cell of zoom z is 90 / 2^z degrees, anchored at lon 0 / lat 0; gx, gy
-- index it: a document belongs to cell (floor(cx / size), floor(cy / size))
-- where (cx, cy) is the centre of its bounding box.
CREATE TABLE geo_cluster_cells (
    collection_id bigint NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    z             smallint NOT NULL CHECK (z BETWEEN 0 AND 8),
    gx            integer NOT NULL,
    gy            integer NOT NULL,
    count         bigint NOT NULL,
    sumx          double precision NOT NULL,
    sumy          double precision NOT NULL,
    minx          double precision,
    miny          double precision,
    maxx          double precision,
    maxy          double precision,
    rep_id        bigint,
    PRIMARY KEY (collection_id, z, gx, gy)
);
-- Finds emptied cells after deletes without scanning the table.
CREATE INDEX geo_cluster_cells_empty_idx ON geo_cluster_cells (collection_id) WHERE count <= 0;

-- +goose StatementBegin
CREATE FUNCTION geo_cluster_cells_sync() RETURNS trigger
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

CREATE TRIGGER geo_cluster_cells_insert
AFTER INSERT ON documents REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION geo_cluster_cells_sync();

CREATE TRIGGER geo_cluster_cells_update
AFTER UPDATE ON documents REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION geo_cluster_cells_sync();

CREATE TRIGGER geo_cluster_cells_delete
AFTER DELETE ON documents REFERENCING OLD TABLE AS old_rows
FOR EACH STATEMENT EXECUTE FUNCTION geo_cluster_cells_sync();

INSERT INTO geo_cluster_cells (collection_id, z, gx, gy, count, sumx, sumy, minx, miny, maxx, maxy, rep_id)
SELECT collection_id, z, gx >> (8 - z), gy >> (8 - z), count(*), sum(cx), sum(cy), min(x0), min(y0), max(x1), max(y1), min(id)
  FROM (SELECT collection_id, id, ST_XMin(geom) AS x0, ST_YMin(geom) AS y0, ST_XMax(geom) AS x1, ST_YMax(geom) AS y1,
               (ST_XMin(geom) + ST_XMax(geom)) / 2 AS cx, (ST_YMin(geom) + ST_YMax(geom)) / 2 AS cy,
               floor(((ST_XMin(geom) + ST_XMax(geom)) / 2) / 0.3515625)::int AS gx,
               floor(((ST_YMin(geom) + ST_YMax(geom)) / 2) / 0.3515625)::int AS gy
          FROM documents WHERE geom IS NOT NULL) s, generate_series(0, 8) AS z
 GROUP BY collection_id, z, gx >> (8 - z), gy >> (8 - z);

-- +goose Down
DROP TRIGGER geo_cluster_cells_delete ON documents;
DROP TRIGGER geo_cluster_cells_update ON documents;
DROP TRIGGER geo_cluster_cells_insert ON documents;
DROP FUNCTION geo_cluster_cells_sync();
DROP TABLE geo_cluster_cells;
