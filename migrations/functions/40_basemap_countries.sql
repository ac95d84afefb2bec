-- basemap_countries_refresh: fills basemap_countries from the loaded
-- regions, dissolved by country, basemap_land with the same countries cut
-- into pieces, and basemap_borders with the regions' outlines, each shared
-- border once, cut into pieces of at most 256 points: a tile reads and
-- clips only the pieces it shows (its time: docs/performance.md). With
-- only_if_empty it does nothing once the tables have rows (or there are no
-- regions): a start calls it so, which fills a database whose regions were
-- loaded before the tables existed.
CREATE OR REPLACE FUNCTION basemap_countries_refresh(only_if_empty boolean) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF only_if_empty AND EXISTS (SELECT 1 FROM basemap_countries) AND EXISTS (SELECT 1 FROM basemap_land)
       AND EXISTS (SELECT 1 FROM basemap_borders)
       OR only_if_empty AND NOT EXISTS (SELECT 1 FROM places WHERE kind = 'region' AND country <> '') THEN
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
    INSERT INTO basemap_borders (country, geom)
    SELECT country, piece
      FROM (SELECT country, ST_Subdivide((ST_Dump(ST_LineMerge(ST_Union(ST_Boundary(geom))))).geom, 256) AS piece
              FROM places
             WHERE kind = 'region' AND country <> ''
             GROUP BY country) b
     WHERE ST_GeometryType(piece) = 'ST_LineString';
END;
$$;
