-- +goose Up
-- geo_collection_stats_grow (00020) upserted the collection's stats row on
-- every statement, and ON CONFLICT locks that row until commit even when
-- nothing changes: concurrent writers to one collection queued on it. Now a
-- statement whose rows are already inside the stored extents (the common case
-- once a collection has data) proposes no row and takes no lock.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION geo_collection_stats_grow() RETURNS trigger
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

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION geo_collection_stats_grow() RETURNS trigger
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
     ORDER BY a.collection_id
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
