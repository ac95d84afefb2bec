-- +goose Up
-- Collections can be deleted (DELETE /collections/{c}). A delete first
-- marks the collection in one short transaction: deleted_at is set and the
-- name becomes NULL, so every lookup by name misses it at once and the name
-- is free for a new collection (UNIQUE lets any number of NULLs be). Its
-- documents are then removed in batches by a background job
-- (internal/document, lifecycle.go), and the collection row last; rows of
-- other collections are never locked by it.
ALTER TABLE collections ADD COLUMN deleted_at timestamptz;
ALTER TABLE collections ALTER COLUMN name DROP NOT NULL;
ALTER TABLE collections ADD CONSTRAINT collections_deleted_no_name
    CHECK ((name IS NULL) = (deleted_at IS NOT NULL));
CREATE INDEX collections_deleted_idx ON collections (id) WHERE deleted_at IS NOT NULL;

-- photo_file_removals lists the originals (and their thumbnails) whose photo
-- rows were deleted: a row is written in the transaction that deletes the
-- photo, and removed after the files are. A crash in between leaves the row,
-- so the file is removed later (by the next delete batch or the start-up
-- sweep) instead of being adopted back as a new photo by the orphan sweep.
-- A later upload of the same bytes keeps its file: the remover skips a
-- SHA-256 that has a photos row again.
CREATE TABLE photo_file_removals (
    sha256      bytea PRIMARY KEY CHECK (length(sha256) = 32),
    storage_key text NOT NULL,
    queued_at   timestamptz NOT NULL DEFAULT now()
);

-- The cluster pyramid's trigger skips the documents of a deleted collection:
-- geo_cluster_cells_sync lives in migrations/functions/21_geo_cluster_cells.sql.

-- +goose Down
-- +goose StatementBegin
DO $$ BEGIN
    RAISE EXCEPTION 'geoseek migrates forward only: geo_cluster_cells_sync (migrations/functions/21_geo_cluster_cells.sql) uses what this migration made';
END $$;
-- +goose StatementEnd
