-- +goose Up
-- embedding_storage chooses the element type of a collection's HNSW index:
-- 'vector' (float32, the default) or 'halfvec' (float16: half the index size
-- and memory, so twice the vectors fit in RAM, for a small loss of precision;
-- pgvector's HNSW takes halfvec up to 4,000 dimensions, vector up to 2,000).
-- documents.embedding itself stays float32, so exact search and
-- re-indexing keep full precision. Queries use the same expression as the
-- index: embedding::halfvec(<dim>) for 'halfvec' collections.
ALTER TABLE collections ADD COLUMN embedding_storage text NOT NULL DEFAULT 'vector'
    CHECK (embedding_storage IN ('vector', 'halfvec'));

-- +goose Down
ALTER TABLE collections DROP COLUMN embedding_storage;
