-- geo_collection_stats (its table: migrations 00020 and 00025) keeps, per
-- collection, what /collections shows without scanning documents: the
-- spatial extent, the temporal extent of the periods and the props keys
-- seen (the queryables). Statement-level triggers only ever grow these,
-- once per statement (a COPY of a million rows costs one aggregate over its
-- transition table, not a million updates). After deletes the extent may be
-- larger than the data; geo_refresh_collection_stats(collection_id)
-- recomputes it exactly.
--
-- Writers of one collection do not queue behind each other for its row:
-- only a writer that gets the collection's stats lock without waiting
-- (pg_try_advisory_xact_lock, key 1734702963 = 'geos') updates the row,
-- after merging what others left in geo_collection_stats_pending; the
-- others append their growth there. Stats only grow between refreshes, so
-- merging later gives the same row. Readers merge the pending rows in
-- (geo_collection_stats_merged). A statement whose rows are already inside
-- the stored extents proposes no row and takes no lock at all.

-- geo_collection_stats_fold merges the pending growth of a collection that
-- this transaction can see into its row. The caller holds the stats lock.
CREATE OR REPLACE FUNCTION geo_collection_stats_fold(cid bigint) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    WITH moved AS (
        DELETE FROM geo_collection_stats_pending WHERE collection_id = cid
        RETURNING minx, miny, maxx, maxy, t_min, t_max, prop_keys
    ), g AS (
        SELECT min(minx) AS minx, min(miny) AS miny, max(maxx) AS maxx, max(maxy) AS maxy,
               min(t_min) AS t_min, max(t_max) AS t_max,
               ARRAY(SELECT DISTINCT k FROM moved, unnest(moved.prop_keys) AS k ORDER BY k) AS keys,
               count(*) AS n
          FROM moved
    )
    INSERT INTO geo_collection_stats AS s (collection_id, minx, miny, maxx, maxy, t_min, t_max, prop_keys)
    SELECT cid, minx, miny, maxx, maxy, t_min, t_max, keys FROM g WHERE n > 0
    ON CONFLICT (collection_id) DO UPDATE SET
        minx = LEAST(s.minx, EXCLUDED.minx),
        miny = LEAST(s.miny, EXCLUDED.miny),
        maxx = GREATEST(s.maxx, EXCLUDED.maxx),
        maxy = GREATEST(s.maxy, EXCLUDED.maxy),
        t_min = LEAST(s.t_min, EXCLUDED.t_min),
        t_max = GREATEST(s.t_max, EXCLUDED.t_max),
        prop_keys = ARRAY(SELECT DISTINCT u FROM unnest(s.prop_keys || EXCLUDED.prop_keys) AS u ORDER BY u),
        updated_at = now();
END;
$fn$;

CREATE OR REPLACE FUNCTION geo_collection_stats_grow() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    FOR r IN
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
        SELECT p.* FROM proposed p
         WHERE NOT EXISTS (
                SELECT 1 FROM geo_collection_stats o
                 WHERE o.collection_id = p.collection_id
                   AND (p.minx IS NULL OR (o.minx <= p.minx AND o.miny <= p.miny AND o.maxx >= p.maxx AND o.maxy >= p.maxy))
                   AND (p.t_min IS NULL OR o.t_min <= p.t_min)
                   AND (p.t_max IS NULL OR o.t_max >= p.t_max)
                   AND p.keys <@ o.prop_keys)
         ORDER BY p.collection_id
    LOOP
        IF pg_try_advisory_xact_lock(1734702963, (r.collection_id % 2147483647)::int) THEN
            IF EXISTS (SELECT 1 FROM geo_collection_stats_pending q WHERE q.collection_id = r.collection_id) THEN
                PERFORM geo_collection_stats_fold(r.collection_id);
            END IF;
            INSERT INTO geo_collection_stats AS s (collection_id, minx, miny, maxx, maxy, t_min, t_max, prop_keys)
            VALUES (r.collection_id, r.minx, r.miny, r.maxx, r.maxy, r.t_min, r.t_max, r.keys)
            ON CONFLICT (collection_id) DO UPDATE SET
                minx = LEAST(s.minx, EXCLUDED.minx),
                miny = LEAST(s.miny, EXCLUDED.miny),
                maxx = GREATEST(s.maxx, EXCLUDED.maxx),
                maxy = GREATEST(s.maxy, EXCLUDED.maxy),
                t_min = LEAST(s.t_min, EXCLUDED.t_min),
                t_max = GREATEST(s.t_max, EXCLUDED.t_max),
                prop_keys = ARRAY(SELECT DISTINCT u FROM unnest(s.prop_keys || EXCLUDED.prop_keys) AS u ORDER BY u),
                updated_at = now();
        ELSE
            INSERT INTO geo_collection_stats_pending (collection_id, minx, miny, maxx, maxy, t_min, t_max, prop_keys)
            VALUES (r.collection_id, r.minx, r.miny, r.maxx, r.maxy, r.t_min, r.t_max, r.keys);
        END IF;
    END LOOP;
    RETURN NULL;
END;
$$;

-- A refresh recomputes from the documents, which covers every committed
-- pending row: it waits for the lock and clears them. (Rows of
-- transactions still running stay, and merge later.)
CREATE OR REPLACE FUNCTION geo_refresh_collection_stats(cid bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(1734702963, (cid % 2147483647)::int);
    DELETE FROM geo_collection_stats_pending WHERE collection_id = cid;
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
END;
$$;

-- A trigger with transition tables may have only one event, hence two.
CREATE OR REPLACE TRIGGER geo_collection_stats_insert
AFTER INSERT ON documents REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION geo_collection_stats_grow();

CREATE OR REPLACE TRIGGER geo_collection_stats_update
AFTER UPDATE ON documents REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION geo_collection_stats_grow();
