-- basemap_countries_refresh: fills basemap_countries from the loaded
-- regions, dissolved by country, basemap_land with the same countries cut
-- into pieces, and basemap_borders with the lines where two countries (of
-- the loaded country dataset, else those) or two regions meet, each once, cut into pieces of at most 256 points: a
-- tile reads and clips only the pieces it shows (its time:
-- docs/performance.md). With only_if_empty it does nothing unless a table
-- the loaded places call for is empty: a start calls it so, which fills a
-- database whose places were loaded before the tables existed.
CREATE OR REPLACE FUNCTION basemap_countries_refresh(only_if_empty boolean) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF only_if_empty
       AND NOT (EXISTS (SELECT 1 FROM places WHERE kind = 'region' AND country <> '')
                AND NOT (EXISTS (SELECT 1 FROM basemap_countries) AND EXISTS (SELECT 1 FROM basemap_land)))
       AND NOT (EXISTS (SELECT 1 FROM places WHERE kind IN ('region', 'country') AND country <> '')
                AND NOT EXISTS (SELECT 1 FROM basemap_borders)) THEN
        RETURN;
    END IF;
    DELETE FROM basemap_countries;
    INSERT INTO basemap_countries (country, country_code, geom, area)
    SELECT country, cc, geom, ST_Area(geom)
      FROM (SELECT country, min(country_code) AS cc,
                   ST_Multi(ST_CollectionExtract(ST_Union(geom), 3)) AS geom
              FROM places
             WHERE kind = 'region' AND country <> ''
             GROUP BY country) c
     WHERE NOT ST_IsEmpty(geom);
    DELETE FROM basemap_land;
    INSERT INTO basemap_land (country, country_code, geom, area)
    SELECT country, country_code, piece, ST_Area(piece)
      FROM (SELECT country, country_code, ST_Multi(ST_CollectionExtract(ST_Subdivide(geom, 512), 3)) AS piece
              FROM basemap_countries) l
     WHERE NOT ST_IsEmpty(piece);
    DELETE FROM basemap_borders;
    -- Where two regions of a country meet: the regions' outlines, each
    -- shared stretch once, less the country's own outline.
    INSERT INTO basemap_borders (kind, country, geom)
    SELECT 'region', country, piece
      FROM (SELECT b.country, ST_Subdivide((ST_Dump(ST_LineMerge(ST_Difference(b.lines, ST_Boundary(c.geom))))).geom, 256) AS piece
              FROM (SELECT country, ST_Union(ST_Boundary(geom)) AS lines
                      FROM places
                     WHERE kind = 'region' AND country <> ''
                     GROUP BY country) b
              JOIN basemap_countries c USING (country)) r
     WHERE ST_GeometryType(piece) = 'ST_LineString';
    -- Where two countries meet: the loaded country dataset's, else the
    -- countries dissolved from the regions.
    INSERT INTO basemap_borders (kind, country, geom)
    WITH c AS (
        SELECT country, geom FROM places WHERE kind = 'country' AND country <> ''
        UNION ALL
        SELECT country, geom FROM basemap_countries WHERE NOT EXISTS (SELECT 1 FROM places WHERE kind = 'country')
    )
    SELECT 'country', country, piece
      FROM (SELECT a.country || ' / ' || b.country AS country,
                   ST_Subdivide((ST_Dump(ST_LineMerge(ST_CollectionExtract(ST_Intersection(ST_Boundary(a.geom), ST_Boundary(b.geom)), 2)))).geom, 256) AS piece
              FROM c a
              JOIN c b ON a.country < b.country AND a.geom && b.geom AND ST_Intersects(a.geom, b.geom)) n
     WHERE ST_GeometryType(piece) = 'ST_LineString';
END;
$$;
