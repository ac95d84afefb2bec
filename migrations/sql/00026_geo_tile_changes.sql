-- +goose Up
-- Every statement that changes what a vector tile shows notifies
-- 'geoseek_documents' with the collection ids it touched, once each; the
-- notifications are delivered when (and only if) the transaction commits.
-- geoseek's tile cache (geo/tilecache.go) LISTENs and drops the renderings
-- of those collections. A tile shows a document's id, title and geometry,
-- so an UPDATE that changes none of them (embeddings, search columns,
-- props) notifies nothing: a re-embedding run does not empty the cache.
-- TRUNCATE notifies '*' (every collection).
-- +goose StatementBegin
CREATE FUNCTION geo_tile_changes_notify() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    cid bigint;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('geoseek_documents', '*');
    ELSIF TG_OP = 'INSERT' THEN
        FOR cid IN SELECT DISTINCT collection_id FROM new_rows WHERE geom IS NOT NULL LOOP
            PERFORM pg_notify('geoseek_documents', cid::text);
        END LOOP;
    ELSIF TG_OP = 'DELETE' THEN
        FOR cid IN SELECT DISTINCT collection_id FROM old_rows WHERE geom IS NOT NULL LOOP
            PERFORM pg_notify('geoseek_documents', cid::text);
        END LOOP;
    ELSE
        FOR cid IN
            SELECT DISTINCT c
              FROM old_rows o JOIN new_rows n ON n.id = o.id,
                   LATERAL (VALUES (o.collection_id), (n.collection_id)) v (c)
             WHERE (o.geom IS NOT NULL OR n.geom IS NOT NULL)
               AND (o.collection_id <> n.collection_id
                    OR o.title IS DISTINCT FROM n.title
                    -- EWKB bytes: exact, where geometry '=' compares less
                    OR o.geom::bytea IS DISTINCT FROM n.geom::bytea)
        LOOP
            PERFORM pg_notify('geoseek_documents', cid::text);
        END LOOP;
    END IF;
    RETURN NULL;
END;
$fn$;
-- +goose StatementEnd

CREATE TRIGGER geo_tile_changes_insert
AFTER INSERT ON documents REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION geo_tile_changes_notify();

CREATE TRIGGER geo_tile_changes_update
AFTER UPDATE ON documents REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION geo_tile_changes_notify();

CREATE TRIGGER geo_tile_changes_delete
AFTER DELETE ON documents REFERENCING OLD TABLE AS old_rows
FOR EACH STATEMENT EXECUTE FUNCTION geo_tile_changes_notify();

CREATE TRIGGER geo_tile_changes_truncate
AFTER TRUNCATE ON documents
FOR EACH STATEMENT EXECUTE FUNCTION geo_tile_changes_notify();

-- +goose Down
DROP TRIGGER geo_tile_changes_truncate ON documents;
DROP TRIGGER geo_tile_changes_delete ON documents;
DROP TRIGGER geo_tile_changes_update ON documents;
DROP TRIGGER geo_tile_changes_insert ON documents;
DROP FUNCTION geo_tile_changes_notify();
