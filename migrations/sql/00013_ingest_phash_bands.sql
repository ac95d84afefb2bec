-- +goose Up
-- Near-duplicate lookups (GET /photos/{id}/similar) without reading every
-- photo: multi-index hashing. The 64-bit perceptual hash is cut into four
-- 16-bit bands, each indexed. Two hashes within Hamming distance d agree
-- within floor(d / 4) bits on at least one band (pigeonhole: four bands
-- each off by more would differ in more than d bits), so the candidates
-- are the photos whose band 0, 1, 2 or 3 is one of the few values that
-- close to the query's; the exact distance then filters them (see
-- ingest.SimilarTo). Bands are unsigned 0–65535.
ALTER TABLE photos
    ADD COLUMN phash_b0 integer GENERATED ALWAYS AS (((phash >> 48) & 65535)::integer) STORED,
    ADD COLUMN phash_b1 integer GENERATED ALWAYS AS (((phash >> 32) & 65535)::integer) STORED,
    ADD COLUMN phash_b2 integer GENERATED ALWAYS AS (((phash >> 16) & 65535)::integer) STORED,
    ADD COLUMN phash_b3 integer GENERATED ALWAYS AS ((phash & 65535)::integer) STORED;
CREATE INDEX photos_phash_b0_idx ON photos (phash_b0) WHERE phash IS NOT NULL;
CREATE INDEX photos_phash_b1_idx ON photos (phash_b1) WHERE phash IS NOT NULL;
CREATE INDEX photos_phash_b2_idx ON photos (phash_b2) WHERE phash IS NOT NULL;
CREATE INDEX photos_phash_b3_idx ON photos (phash_b3) WHERE phash IS NOT NULL;

-- +goose Down
ALTER TABLE photos DROP COLUMN phash_b0, DROP COLUMN phash_b1, DROP COLUMN phash_b2, DROP COLUMN phash_b3;
