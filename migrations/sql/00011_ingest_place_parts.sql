-- +goose Up
-- Point-in-polygon against whole Natural Earth polygons (countries with
-- thousands of vertices) cost 1-40 ms per photo: every candidate polygon is
-- detoasted and walked whole. place_parts holds each polygon cut by
-- ST_Subdivide into pieces of at most 128 vertices, so a lookup tests one or
-- two small pieces (about 0.1 ms), and places.area keeps the ORDER BY from
-- detoasting the polygons. The loader fills both; this backfills places
-- loaded before (a one-time cost of some seconds when they are there).
ALTER TABLE places ADD COLUMN area double precision;
UPDATE places SET area = ST_Area(geom);
ALTER TABLE places ALTER COLUMN area SET NOT NULL;

CREATE TABLE place_parts (
    place_id bigint NOT NULL REFERENCES places (id) ON DELETE CASCADE,
    geom     geometry(Geometry, 4326) NOT NULL
);
INSERT INTO place_parts (place_id, geom) SELECT id, ST_Subdivide(geom, 128) FROM places;
CREATE INDEX place_parts_geom_idx ON place_parts USING gist (geom);
CREATE INDEX place_parts_place_id_idx ON place_parts (place_id);

-- +goose Down
DROP TABLE place_parts;
ALTER TABLE places DROP COLUMN area;
