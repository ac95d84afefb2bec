-- +goose Up
-- basemap_countries: the base map's countries when no country dataset is
-- loaded, the regions dissolved by country (basemap_countries_refresh in
-- functions/40_basemap_countries.sql, called by the place loader). The
-- default datasets hold regions only, so zoomed out the map drew every
-- region of the world, each border twice (docs/performance.md).
CREATE TABLE basemap_countries (
    country      text PRIMARY KEY,
    country_code text NOT NULL,
    geom         geometry(MultiPolygon, 4326) NOT NULL,
    area         double precision NOT NULL
);
CREATE INDEX basemap_countries_geom_idx ON basemap_countries USING gist (geom);

-- +goose Down
DROP TABLE basemap_countries;
