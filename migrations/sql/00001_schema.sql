-- +goose Up
-- The core schema. Every table, index, extension and generated column of geoseek
-- is defined in these files; Go code never creates schema objects on its own.

CREATE EXTENSION IF NOT EXISTS postgis;
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- schema_features records optional parts of the schema (pgvector today) that are
-- applied when their extension is available; see migrations/features.go.
CREATE TABLE schema_features (
    name       text PRIMARY KEY,
    version    text NOT NULL,
    enabled_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE collections (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- name is the URL path segment; kept to a safe, lower-case alphabet.
    name            text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    title           text NOT NULL DEFAULT '',
    description     text NOT NULL DEFAULT '',
    default_lang    regconfig NOT NULL DEFAULT 'simple',
    -- embedder settings: which embedder, which model and the vector dimension
    -- its documents carry (NULL: no embeddings for this collection).
    embedder        text NOT NULL DEFAULT 'offline',
    embedding_model text NOT NULL DEFAULT '',
    embedding_dim   integer CHECK (embedding_dim BETWEEN 1 AND 16000),
    props           jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(props) = 'object'),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE documents (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    collection_id bigint NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    -- external_id is the client's own key: upserts by (collection, external_id)
    -- are idempotent. NULL for documents that have none.
    external_id   text CHECK (external_id <> ''),
    title         text NOT NULL DEFAULT '',
    body          text NOT NULL DEFAULT '',
    lang          regconfig NOT NULL DEFAULT 'simple',
    tags          text[] NOT NULL DEFAULT '{}',
    props         jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(props) = 'object'),
    period        tstzrange,
    geom          geometry(Geometry, 4326),
    -- search weights the title (A) over the body (B), each stemmed in the row's
    -- own language. to_tsvector(regconfig, text) is immutable, so it may be stored.
    search        tsvector GENERATED ALWAYS AS (
                      setweight(to_tsvector(lang, title), 'A') ||
                      setweight(to_tsvector(lang, body), 'B')
                  ) STORED,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (collection_id, external_id)
);

CREATE INDEX documents_search_idx ON documents USING gin (search);
CREATE INDEX documents_tags_idx ON documents USING gin (tags);
CREATE INDEX documents_props_idx ON documents USING gin (props jsonb_path_ops);
CREATE INDEX documents_geom_idx ON documents USING gist (geom);
CREATE INDEX documents_period_idx ON documents USING gist (period);
CREATE INDEX documents_title_trgm_idx ON documents USING gin (title gin_trgm_ops);
-- keyset paging within a collection, and the created/updated windows.
CREATE INDEX documents_collection_id_idx ON documents (collection_id, id);
CREATE INDEX documents_created_idx ON documents (collection_id, created_at);
CREATE INDEX documents_updated_idx ON documents (collection_id, updated_at);

CREATE TABLE photos (
    document_id        bigint PRIMARY KEY REFERENCES documents (id) ON DELETE CASCADE,
    sha256             bytea NOT NULL UNIQUE CHECK (length(sha256) = 32),
    size_bytes         bigint NOT NULL CHECK (size_bytes >= 0),
    mime               text NOT NULL,
    original_name      text NOT NULL DEFAULT '',
    -- storage_key locates the original in the blob store (content-addressed).
    storage_key        text NOT NULL,
    width              integer CHECK (width > 0),
    height             integer CHECK (height > 0),
    -- taken_at is the instant; taken_local the camera's wall clock;
    -- utc_offset_minutes and tz_source say how the two were tied together.
    taken_at           timestamptz,
    taken_local        timestamp,
    utc_offset_minutes integer CHECK (utc_offset_minutes BETWEEN -1080 AND 1080),
    tz_source          text NOT NULL DEFAULT 'unknown'
                       CHECK (tz_source IN ('offset_tag', 'gps_utc', 'gps_zone', 'unknown')),
    tz_name            text,
    camera_make        text,
    camera_model       text,
    lens               text,
    orientation        smallint CHECK (orientation BETWEEN 1 AND 8),
    lat                double precision CHECK (lat BETWEEN -90 AND 90),
    lon                double precision CHECK (lon BETWEEN -180 AND 180),
    alt_m              double precision,
    img_direction      double precision CHECK (img_direction >= 0 AND img_direction < 360),
    -- gps_ref_missing: a coordinate had no N/S/E/W reference and was taken as positive.
    gps_ref_missing    boolean NOT NULL DEFAULT false,
    exif               jsonb NOT NULL DEFAULT '{}'::jsonb,
    exif_error         text,
    -- phash: 64-bit perceptual hash for near-duplicate search (Hamming distance).
    phash              bigint,
    -- geom is the generated column the mission asks for: a point from lon/lat,
    -- NULL when either is NULL.
    geom               geometry(Point, 4326) GENERATED ALWAYS AS (
                           CASE WHEN lat IS NOT NULL AND lon IS NOT NULL
                                THEN ST_SetSRID(ST_MakePoint(lon, lat), 4326)
                           END
                       ) STORED,
    created_at         timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX photos_geom_idx ON photos USING gist (geom);
CREATE INDEX photos_taken_at_idx ON photos (taken_at);
CREATE INDEX photos_phash_idx ON photos (phash) WHERE phash IS NOT NULL;

-- A photo is a document: its document's geometry follows the photo's generated
-- point, whoever writes lat/lon. AFTER triggers see generated columns computed.
-- +goose StatementBegin
CREATE FUNCTION photos_sync_document_geom() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE documents SET geom = NEW.geom, updated_at = now()
     WHERE id = NEW.document_id AND geom IS DISTINCT FROM NEW.geom;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER photos_sync_document_geom
AFTER INSERT OR UPDATE OF lat, lon ON photos
FOR EACH ROW EXECUTE FUNCTION photos_sync_document_geom();

CREATE TABLE api_keys (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text NOT NULL CHECK (name <> ''),
    -- prefix is shown in listings so people can tell keys apart; the secret is
    -- stored only as its SHA-256 (keys are 256-bit random, so a fast hash is enough).
    prefix       text NOT NULL,
    hash         bytea NOT NULL UNIQUE CHECK (length(hash) = 32),
    scopes       text[] NOT NULL CHECK (scopes <@ ARRAY['read', 'write', 'admin'] AND cardinality(scopes) > 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);

INSERT INTO collections (name, title, description, default_lang, embedding_dim)
VALUES ('photos', 'Photos', 'Uploaded photos, one document each, placed by their EXIF GPS position.', 'simple', 384);

-- +goose Down
DROP TABLE api_keys;
DROP TABLE photos;
DROP FUNCTION photos_sync_document_geom();
DROP TABLE documents;
DROP TABLE collections;
DROP TABLE schema_features;
