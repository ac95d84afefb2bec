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
    )
    INSERT INTO geo_collection_stats AS s (collection_id, minx, miny, maxx, maxy, t_min, t_max, prop_keys)
    SELECT a.collection_id, ST_XMin(a.e), ST_YMin(a.e), ST_XMax(a.e), ST_YMax(a.e),
           a.t_min, a.t_max, COALESCE(k.keys, '{}')
      FROM agg a LEFT JOIN keys k USING (collection_id)
     ORDER BY a.collection_id -- one lock order for concurrent writers
    ON CONFLICT (collection_id) DO UPDATE SET
        minx = LEAST(s.minx, EXCLUDED.minx),
        miny = LEAST(s.miny, EXCLUDED.miny),
        maxx = GREATEST(s.maxx, EXCLUDED.maxx),
        maxy = GREATEST(s.maxy, EXCLUDED.maxy),
        t_min = LEAST(s.t_min, EXCLUDED.t_min),
        t_max = GREATEST(s.t_max, EXCLUDED.t_max),
        prop_keys = ARRAY(SELECT DISTINCT u FROM unnest(s.prop_keys || EXCLUDED.prop_keys) AS u ORDER BY u),
        updated_at = now()
     WHERE EXCLUDED.minx < s.minx OR EXCLUDED.miny < s.miny OR EXCLUDED.maxx > s.maxx OR EXCLUDED.maxy > s.maxy
        OR (s.minx IS NULL AND EXCLUDED.minx IS NOT NULL)
        OR EXCLUDED.t_min < s.t_min OR EXCLUDED.t_max > s.t_max
        OR (s.t_min IS NULL AND EXCLUDED.t_min IS NOT NULL)
        OR (s.t_max IS NULL AND EXCLUDED.t_max IS NOT NULL)
        OR NOT (EXCLUDED.prop_keys <@ s.prop_keys);
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
