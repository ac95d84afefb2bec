-- +goose Up
-- schema_functions records which files of migrations/functions/ (the one
-- current definition of each trigger function and its triggers) were
-- applied, by content hash, so a start that changes nothing re-creates no
-- trigger (CREATE OR REPLACE TRIGGER locks the table it is on).
CREATE TABLE schema_functions (
    file       text PRIMARY KEY,
    sha256     bytea NOT NULL CHECK (length(sha256) = 32),
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE schema_functions;
