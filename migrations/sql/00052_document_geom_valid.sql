-- +goose Up
-- A stored geometry is valid in the OGC Simple Features sense. The write
-- paths check it first and refuse with PostGIS's reason (internal/geomrule);
-- this constraint keeps any other writer to the same rule. NOT VALID: rows
-- stored before the rule are not scanned here (a full scan under an
-- exclusive lock); ST_MakeValid or a rewrite repairs them, and VALIDATE
-- CONSTRAINT then proves the table clean.
ALTER TABLE documents ADD CONSTRAINT documents_geom_check CHECK (ST_IsValid(geom)) NOT VALID;

-- +goose Down
ALTER TABLE documents DROP CONSTRAINT documents_geom_check;
