-- +goose Up
-- Ingest now writes a photo's document with the photo's point already, so
-- the sync trigger usually has nothing to do. Test before updating: an
-- UPDATE statement, even of no rows, fires the statement-level triggers of
-- documents, and an update of a row re-inserts it into every index (the
-- document's text indexes included), which doubled the database cost of
-- each ingested photo. The generated photos.geom stays the source of truth.
-- photos_sync_document_geom now lives in migrations/functions/10_photos_sync_document_geom.sql.
SELECT 1;

-- +goose Down
-- Nothing to undo here: the function is re-applied from migrations/functions/.
