-- +goose Up
-- RUM index for ranked keyword search (search/keyword.go). RUM stores lexeme
-- positions in the index, so `search <=> query` returns matches in rank order
-- without reading the heap; geoseek re-ranks only the best candidates with
-- ts_rank_cd. The extension is optional (Debian: postgresql-15-rum): without
-- it, or without the privilege to create it, this migration does nothing and
-- search ranks every match with ts_rank_cd (same results, slower for very
-- common terms). search.Service checks for the index at run time.
--
-- Cost: RUM has no pending list like GIN's fastupdate, so every insert
-- updates it in place; measured here, inserts became 3-10x slower (bulk load
-- into a 1M-row table: 240 instead of 640 docs/s). Deployments that load a
-- lot and rarely rank medium-sized match sets opt out with
--   ALTER DATABASE <db> SET geoseek.rum = 'off';
-- before migrating, or drop the index later (search adapts within a minute).
-- +goose StatementBegin
DO $$
BEGIN
    IF coalesce(current_setting('geoseek.rum', true), '') = 'off' THEN
        RAISE NOTICE 'geoseek.rum is off: no RUM index';
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'rum') THEN
        BEGIN
            CREATE EXTENSION IF NOT EXISTS rum;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'rum extension available but not creatable by this role; ranked search uses GIN only';
            RETURN;
        END;
        CREATE INDEX IF NOT EXISTS documents_search_rum_idx ON documents USING rum (search rum_tsvector_ops);
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP INDEX IF EXISTS documents_search_rum_idx;
