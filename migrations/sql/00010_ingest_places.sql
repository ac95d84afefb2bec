-- +goose Up
-- places holds Natural Earth polygons (countries, admin-1 regions, urban
-- areas) for offline reverse geocoding of photo positions with ST_Covers.
-- ingest loads it once from the data embedded in the binary
-- (github.com/sams96/rgeo); `dataset` names the source so a load is resumable
-- and idempotent (places_loaded records finished datasets).
CREATE TABLE places (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dataset      text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('country', 'region', 'city')),
    name         text NOT NULL DEFAULT '',
    country      text NOT NULL DEFAULT '',
    country_code text NOT NULL DEFAULT '',
    region       text NOT NULL DEFAULT '',
    geom         geometry(MultiPolygon, 4326) NOT NULL
);
CREATE INDEX places_geom_idx ON places USING gist (geom);

CREATE TABLE places_loaded (
    dataset   text PRIMARY KEY,
    features  integer NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT now()
);

-- Photos by perceptual-hash distance scan photos with a phash; the partial
-- index from 00001 keeps that scan to hashed rows.

-- +goose Down
DROP TABLE places_loaded;
DROP TABLE places;
