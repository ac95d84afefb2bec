-- +goose Up
-- Keep each document's tsvector in its row (compressed if need be) rather
-- than in the TOAST table: every search that tests or ranks matches row by
-- row (a facet sample, an exact ranking, a tier round) reads it, and a
-- TOASTed value costs an index probe and a second page each time. When a
-- row is too wide, the body (read only for the page's highlights and
-- features) moves out instead. Existing rows keep their place until they
-- are rewritten (docs/operations.md); docs/performance.md has the figures.
ALTER TABLE documents ALTER COLUMN search SET STORAGE MAIN;

-- +goose Down
ALTER TABLE documents ALTER COLUMN search SET STORAGE EXTENDED;
