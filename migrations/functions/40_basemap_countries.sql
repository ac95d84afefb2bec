-- basemap_countries_refresh: fills basemap_countries from the loaded
-- regions, dissolved by country (its time: docs/performance.md). With
-- only_if_empty it does nothing once the table has rows:
-- a start calls it so, which fills a database whose regions were loaded
-- before the table existed.
CREATE OR REPLACE FUNCTION basemap_countries_refresh(only_if_empty boolean) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF only_if_empty AND EXISTS (SELECT 1 FROM basemap_countries) THEN
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
END;
$$;
