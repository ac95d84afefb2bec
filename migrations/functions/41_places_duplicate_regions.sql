-- places_drop_duplicate_regions removes the regions that repeat others of
-- the same country: Natural Earth's admin-1 file holds, beside the regions
-- of some countries, one more feature covering the whole country under
-- another spelling of its name ("Czechia" over the fourteen regions of
-- "Czech Republic"; Cabo Verde, eSwatini, Guinea-Bissau, Macao, North
-- Macedonia, S. Sudan, São Tomé and Principe). The base map took each
-- spelling for a country of its own: filled twice, with a national border
-- drawn around the whole country inside it. A region goes when smaller
-- regions of its country code (or an equal one listed first) lying within
-- it make up 99% of its area. Only codes whose regions name more than one
-- country are looked at, so a load's check costs milliseconds. Returns the
-- number of regions removed (their lookup pieces go with them).
CREATE OR REPLACE FUNCTION places_drop_duplicate_regions() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    WITH codes AS (
        SELECT country_code FROM places
         WHERE kind = 'region' AND country_code NOT IN ('', '-1')
         GROUP BY country_code HAVING count(DISTINCT country) > 1),
    r AS (
        SELECT p.id, p.country_code, p.geom, p.area
          FROM places p JOIN codes USING (country_code)
         WHERE p.kind = 'region'),
    inside AS (
        SELECT o.id AS rid, o.area AS rarea, s.id AS sid, s.area AS sarea
          FROM r o JOIN r s ON s.country_code = o.country_code AND s.id <> o.id AND s.geom && o.geom
         WHERE ST_Area(ST_Intersection(o.geom, s.geom)) >= 0.99 * s.area),
    dup AS (
        SELECT rid FROM inside
         GROUP BY rid, rarea
        HAVING coalesce(sum(sarea) FILTER (WHERE sarea < 0.99 * rarea OR sid < rid), 0) >= 0.99 * rarea)
    DELETE FROM places WHERE id IN (SELECT rid FROM dup);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
