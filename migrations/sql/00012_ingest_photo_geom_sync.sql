-- +goose Up
-- Ingest now writes a photo's document with the photo's point already, so
-- the sync trigger usually has nothing to do. Test before updating: an
-- UPDATE statement, even of no rows, fires the statement-level triggers of
-- documents, and an update of a row re-inserts it into every index (the
-- document's text indexes included), which doubled the database cost of
-- each ingested photo. The generated photos.geom stays the source of truth.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION photos_sync_document_geom() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM documents WHERE id = NEW.document_id AND geom IS DISTINCT FROM NEW.geom) THEN
        UPDATE documents SET geom = NEW.geom, updated_at = now()
         WHERE id = NEW.document_id AND geom IS DISTINCT FROM NEW.geom;
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION photos_sync_document_geom() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE documents SET geom = NEW.geom, updated_at = now()
     WHERE id = NEW.document_id AND geom IS DISTINCT FROM NEW.geom;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
