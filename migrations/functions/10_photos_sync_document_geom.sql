-- photos_sync_document_geom: a photo is a document, and its document's
-- geometry follows the photo's generated point, whoever writes lat/lon
-- (AFTER triggers see generated columns computed). Ingest writes a photo's
-- document with its point already, so the function tests before updating:
-- an UPDATE, even of no rows, fires the statement-level triggers of
-- documents and re-inserts the row into every index. The generated
-- photos.geom stays the source of truth.
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

CREATE OR REPLACE TRIGGER photos_sync_document_geom
AFTER INSERT OR UPDATE OF lat, lon ON photos
FOR EACH ROW EXECUTE FUNCTION photos_sync_document_geom();
