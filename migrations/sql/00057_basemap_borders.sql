-- +goose Up
-- The base map from zoom 4 (basemap_countries_refresh in
-- functions/40_basemap_countries.sql fills both tables with
-- basemap_countries): basemap_land is the countries cut into pieces of at
-- most 512 points, so that a tile clips the few pieces it shows rather than
-- a whole country; basemap_borders holds, as lines, where two countries
-- meet (kind 'country') and where two regions of a country meet (kind
-- 'region'), each once; coasts are the land's edge and need no line. The
-- map used to fill every region and outline each, so every inner border
-- was drawn four times and every coast twice (docs/performance.md).
CREATE TABLE basemap_land (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    country      text NOT NULL,
    country_code text NOT NULL,
    geom         geometry(MultiPolygon, 4326) NOT NULL,
    area         double precision NOT NULL
);
CREATE INDEX basemap_land_geom_idx ON basemap_land USING gist (geom);

CREATE TABLE basemap_borders (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind    text NOT NULL CHECK (kind IN ('country', 'region')),
    country text NOT NULL,
    geom    geometry(LineString, 4326) NOT NULL
);
CREATE INDEX basemap_borders_geom_idx ON basemap_borders USING gist (geom);

-- +goose Down
DROP TABLE basemap_borders;
DROP TABLE basemap_land;
