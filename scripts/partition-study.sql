-- Partitioning study (docs/performance.md, "Partitioning documents by collection"):
-- run against the bench database after its search corpus is loaded; it
-- creates docs_p and its partitions (drop them afterwards:
-- DROP TABLE docs_p CASCADE; DROP SEQUENCE docs_p_id_seq;).
\timing on
SET max_parallel_maintenance_workers = 2;
SET maintenance_work_mem = '512MB';
DROP TABLE IF EXISTS docs_p CASCADE;
DROP TABLE IF EXISTS docs_new;
CREATE SEQUENCE IF NOT EXISTS docs_p_id_seq;
-- The partitioned twin of documents: the same columns, generated tsvector,
-- checks and indexes; the primary key must hold the partition key.
CREATE TABLE docs_p (LIKE documents INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING CONSTRAINTS) PARTITION BY LIST (collection_id);
ALTER TABLE docs_p ALTER COLUMN id SET DEFAULT nextval('docs_p_id_seq');
ALTER TABLE docs_p ADD PRIMARY KEY (collection_id, id);
ALTER TABLE docs_p ADD UNIQUE (collection_id, external_id);
CREATE INDEX ON docs_p (collection_id, created_at);
CREATE INDEX ON docs_p (collection_id, id) WHERE embedding IS NULL;
CREATE INDEX ON docs_p USING gist (geom);
CREATE INDEX ON docs_p USING gist (period);
CREATE INDEX ON docs_p USING gin (props jsonb_path_ops) WITH (fastupdate=off);
CREATE INDEX ON docs_p USING gin (search) WITH (gin_pending_list_limit='256');
CREATE INDEX ON docs_p USING gin (search_impacts(search)) WITH (fastupdate=off);
CREATE INDEX ON docs_p USING gin (search_pair_impacts(search)) WITH (fastupdate=off);
CREATE INDEX ON docs_p USING gin (tags) WITH (fastupdate=off);
CREATE INDEX ON docs_p USING gin (title gin_trgm_ops) WITH (gin_pending_list_limit='256');
CREATE INDEX ON docs_p (collection_id, updated_at);
-- 999 small collections of 100 documents each (the copy of the first 100 debian documents)
DO $$
BEGIN
  FOR i IN 1001..1999 LOOP
    EXECUTE format('CREATE TABLE docs_p_%s PARTITION OF docs_p FOR VALUES IN (%s)', i, i);
  END LOOP;
END $$;
INSERT INTO docs_p (collection_id, external_id, title, body, lang, tags, props)
SELECT c, d.external_id, d.title, d.body, d.lang, d.tags, d.props
  FROM generate_series(1001, 1999) c, (SELECT * FROM documents WHERE collection_id = 3 ORDER BY id LIMIT 100) d;
-- Load: 1,000,000 documents of a new collection into a table of its own
-- without indexes, then index it, then attach it (CHECK first so ATTACH
-- does not scan).
\echo 'LOAD new partition: insert'
CREATE TABLE docs_new (LIKE docs_p INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING CONSTRAINTS);
INSERT INTO docs_new (collection_id, external_id, title, body, lang, tags, props)
SELECT 2000, external_id, title, body, lang, tags, props FROM documents WHERE collection_id = 3;
\echo 'LOAD new partition: indexes'
ALTER TABLE docs_new ADD PRIMARY KEY (collection_id, id);
ALTER TABLE docs_new ADD UNIQUE (collection_id, external_id);
CREATE INDEX ON docs_new (collection_id, created_at);
CREATE INDEX ON docs_new (collection_id, id) WHERE embedding IS NULL;
CREATE INDEX ON docs_new USING gist (geom);
CREATE INDEX ON docs_new USING gist (period);
CREATE INDEX ON docs_new USING gin (props jsonb_path_ops) WITH (fastupdate=off);
CREATE INDEX ON docs_new USING gin (search) WITH (gin_pending_list_limit='256');
CREATE INDEX ON docs_new USING gin (search_impacts(search)) WITH (fastupdate=off);
CREATE INDEX ON docs_new USING gin (search_pair_impacts(search)) WITH (fastupdate=off);
CREATE INDEX ON docs_new USING gin (tags) WITH (fastupdate=off);
CREATE INDEX ON docs_new USING gin (title gin_trgm_ops) WITH (gin_pending_list_limit='256');
CREATE INDEX ON docs_new (collection_id, updated_at);
\echo 'LOAD new partition: search words (what the insert trigger does, once)'
CREATE TEMP TABLE words_new AS SELECT DISTINCT x.word FROM docs_new n, unnest(tsvector_to_array(n.search)) AS x(word)
 WHERE length(x.word) BETWEEN 3 AND 64 AND x.word !~ '[0-9]';
\echo 'LOAD new partition: check + attach'
ALTER TABLE docs_new ADD CONSTRAINT docs_new_in CHECK (collection_id = 2000);
ALTER TABLE docs_p ATTACH PARTITION docs_new FOR VALUES IN (2000);
ANALYZE docs_p;

-- The plans (custom and generic) on both tables.
-- Planning and execution of a collection's keyword top 20 on the flat table
-- and on the partitioned one (1,000 partitions), a custom plan each (pgx
-- sends parameters with each statement).
PREPARE flat(bigint, text) AS SELECT d.id, ts_rank_cd('{0.1,0.2,0.4,1.0}'::float4[], d.search, q, 32) AS s
  FROM documents d, websearch_to_tsquery('english', $2) q WHERE d.collection_id = $1 AND d.search @@ q ORDER BY s DESC, d.id LIMIT 20;
PREPARE part(bigint, text) AS SELECT d.id, ts_rank_cd('{0.1,0.2,0.4,1.0}'::float4[], d.search, q, 32) AS s
  FROM docs_p d, websearch_to_tsquery('english', $2) q WHERE d.collection_id = $1 AND d.search @@ q ORDER BY s DESC, d.id LIMIT 20;
SET plan_cache_mode = force_custom_plan;
EXPLAIN (ANALYZE, SUMMARY, TIMING OFF, COSTS OFF) EXECUTE flat(3, 'harmonica');
EXPLAIN (ANALYZE, SUMMARY, TIMING OFF, COSTS OFF) EXECUTE part(2000, 'harmonica');
EXPLAIN (ANALYZE, SUMMARY, TIMING OFF, COSTS OFF) EXECUTE flat(3, 'harmonica');
EXPLAIN (ANALYZE, SUMMARY, TIMING OFF, COSTS OFF) EXECUTE part(2000, 'harmonica');
EXPLAIN (ANALYZE, SUMMARY, TIMING OFF, COSTS OFF) EXECUTE part(1500, 'library');
SET plan_cache_mode = force_generic_plan;
EXPLAIN (ANALYZE, SUMMARY, TIMING OFF, COSTS OFF) EXECUTE part(2000, 'harmonica');
EXPLAIN (ANALYZE, SUMMARY, TIMING OFF, COSTS OFF) EXECUTE part(2000, 'harmonica');

SET plan_cache_mode = force_custom_plan;
PREPARE byid(bigint) AS SELECT id, title FROM docs_p WHERE id = $1;
EXPLAIN (ANALYZE, SUMMARY, TIMING OFF, COSTS OFF) EXECUTE byid(500000);
EXPLAIN (ANALYZE, SUMMARY, TIMING OFF, COSTS OFF) SELECT id, title FROM documents WHERE id = 500000;

-- Today's table, for comparison (rolled back).
-- Today's table: 200,000 documents of a new collection into documents
-- (1.1M rows, every index and trigger), one INSERT ... SELECT; rolled back.
BEGIN;
INSERT INTO collections (name, title, default_lang) VALUES ('study_flat', 'study', 'english');
\echo 'FLAT insert 200k'
INSERT INTO documents (collection_id, external_id, title, body, lang, tags, props)
SELECT (SELECT id FROM collections WHERE name = 'study_flat'), external_id, title, body, lang, tags, props
  FROM documents WHERE collection_id = 3 ORDER BY id LIMIT 200000;
ROLLBACK;
