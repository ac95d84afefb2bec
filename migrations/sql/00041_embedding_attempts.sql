-- +goose Up
-- embedding_attempts remembers the documents the embedding sweep
-- (embed.Sweep) left without a vector: texts the embedding service refused,
-- and documents with no text at all. The sweep retries them with exponential
-- backoff (retry_at) instead of at every run. text_md5 is the hash of the
-- language, title and body that were tried: once the text changes, the
-- document is tried at the next sweep. No foreign key: writes to documents
-- stay as they were; the sweep drops the rows of documents that are gone or
-- have their vector.
CREATE TABLE embedding_attempts (
    document_id bigint PRIMARY KEY,
    text_md5    text NOT NULL,
    attempts    integer NOT NULL CHECK (attempts > 0),
    retry_at    timestamptz NOT NULL
);

-- +goose Down
DROP TABLE embedding_attempts;
