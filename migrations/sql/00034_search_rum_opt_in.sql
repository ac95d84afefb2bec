-- +goose Up
-- The RUM index becomes opt-in (00030 built it by default). Measured on the
-- 1M-document bench table (internal/document/bulk_tuning.go): RUM was about
-- 80% of a bulk load's CPU (720 of 900 µs per document) and wrote 80 kB of
-- WAL per document, and every single-row write (photo ingest, the documents
-- API) paid the same. Keyword search no longer uses it by default: impact
-- tiers (00031) give exact top-k for very common one-word terms, and RUM's
-- own order disagrees with ts_rank_cd (0/20 of the top 20 on "library"; see
-- docs/search.md). Search ranks exactly without it. To keep it for
-- ForceStrategy=rum, set geoseek.rum = 'on' before migrating:
--   ALTER DATABASE <db> SET geoseek.rum = 'on';
-- or create it later:
--   CREATE INDEX documents_search_rum_idx ON documents USING rum (search rum_tsvector_ops);
-- +goose StatementBegin
DO $$
BEGIN
    IF coalesce(current_setting('geoseek.rum', true), '') <> 'on' THEN
        DROP INDEX IF EXISTS documents_search_rum_idx;
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'rum') THEN
        CREATE INDEX IF NOT EXISTS documents_search_rum_idx ON documents USING rum (search rum_tsvector_ops);
    END IF;
END
$$;
-- +goose StatementEnd
