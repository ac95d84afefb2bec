-- +goose Up
-- geo_collection_stats keeps, per collection, what OGC API – Features shows
-- in /collections without scanning documents: the spatial extent, the
-- temporal extent of the periods and the props keys seen (the queryables).
-- Statement-level triggers only ever grow these, once per statement (a COPY
-- of a million rows costs one aggregate over its transition table, not a
-- million updates). After deletes the extent may be larger than the data;
-- geo_refresh_collection_stats(collection_id) recomputes it exactly.
CREATE TABLE geo_collection_stats (
    collection_id bigint PRIMARY KEY REFERENCES collections (id) ON DELETE CASCADE,
    minx          double precision,
    miny          double precision,
    maxx          double precision,
    maxy          double precision,
    t_min         timestamptz,
    t_max         timestamptz,
    prop_keys     text[] NOT NULL DEFAULT '{}',
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- A statement whose rows are already inside the stored extents (the common
-- case once a collection has data) proposes no row and so takes no lock on
-- the stats row: ON CONFLICT would lock it until commit even when nothing
-- changes, queueing concurrent writers to one collection.
-- +goose StatementBegin
CREATE FUNCTION geo_collection_stats_grow() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    WITH agg AS (
        SELECT collection_id, ST_Extent(geom)::geometry AS e,
               min(lower(period)) AS t_min, max(upper(period)) AS t_max
          FROM new_rows GROUP BY collection_id
    ), keys AS (
        SELECT collection_id, array_agg(DISTINCT k ORDER BY k) AS keys
          FROM new_rows, LATERAL jsonb_object_keys(props) AS k
         GROUP BY collection_id
    ), proposed AS (
        SELECT a.collection_id, ST_XMin(a.e) AS minx, ST_YMin(a.e) AS miny, ST_XMax(a.e) AS maxx, ST_YMax(a.e) AS maxy,
               a.t_min, a.t_max, COALESCE(k.keys, '{}') AS keys
          FROM agg a LEFT JOIN keys k USING (collection_id)
    )
    INSERT INTO geo_collection_stats AS s (collection_id, minx, miny, maxx, maxy, t_min, t_max, prop_keys)
    SELECT p.collection_id, p.minx, p.miny, p.maxx, p.maxy, p.t_min, p.t_max, p.keys
      FROM proposed p
     WHERE NOT EXISTS (
            SELECT 1 FROM geo_collection_stats o
             WHERE o.collection_id = p.collection_id
               AND (p.minx IS NULL OR (o.minx <= p.minx AND o.miny <= p.miny AND o.maxx >= p.maxx AND o.maxy >= p.maxy))
               AND (p.t_min IS NULL OR o.t_min <= p.t_min)
               AND (p.t_max IS NULL OR o.t_max >= p.t_max)
               AND p.keys <@ o.prop_keys)
     ORDER BY p.collection_id -- one lock order for concurrent writers
    ON CONFLICT (collection_id) DO UPDATE SET
        minx = LEAST(s.minx, EXCLUDED.minx),
        miny = LEAST(s.miny, EXCLUDED.miny),
        maxx = GREATEST(s.maxx, EXCLUDED.maxx),
        maxy = GREATEST(s.maxy, EXCLUDED.maxy),
        t_min = LEAST(s.t_min, EXCLUDED.t_min),
        t_max = GREATEST(s.t_max, EXCLUDED.t_max),
        prop_keys = ARRAY(SELECT DISTINCT u FROM unnest(s.prop_keys || EXCLUDED.prop_keys) AS u ORDER BY u),
        updated_at = now();
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

-- A trigger with transition tables may have only one event, hence two.
CREATE TRIGGER geo_collection_stats_insert
AFTER INSERT ON documents REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION geo_collection_stats_grow();

CREATE TRIGGER geo_collection_stats_update
AFTER UPDATE ON documents REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION geo_collection_stats_grow();

-- +goose StatementBegin
CREATE FUNCTION geo_refresh_collection_stats(cid bigint) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO geo_collection_stats AS s (collection_id, minx, miny, maxx, maxy, t_min, t_max, prop_keys, updated_at)
    SELECT cid, ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e), t_min, t_max,
           COALESCE((SELECT array_agg(DISTINCT k ORDER BY k)
                       FROM documents d, LATERAL jsonb_object_keys(d.props) AS k
                      WHERE d.collection_id = cid), '{}'), now()
      FROM (SELECT ST_Extent(geom)::geometry AS e, min(lower(period)) AS t_min, max(upper(period)) AS t_max
              FROM documents WHERE collection_id = cid) a
    ON CONFLICT (collection_id) DO UPDATE SET
        minx = EXCLUDED.minx, miny = EXCLUDED.miny, maxx = EXCLUDED.maxx, maxy = EXCLUDED.maxy,
        t_min = EXCLUDED.t_min, t_max = EXCLUDED.t_max, prop_keys = EXCLUDED.prop_keys,
        updated_at = now();
$$;
-- +goose StatementEnd

SELECT geo_refresh_collection_stats(id) FROM collections;

-- +goose Down
DROP TRIGGER geo_collection_stats_update ON documents;
DROP TRIGGER geo_collection_stats_insert ON documents;
DROP FUNCTION geo_refresh_collection_stats(bigint);
DROP FUNCTION geo_collection_stats_grow();
DROP TABLE geo_collection_stats;
