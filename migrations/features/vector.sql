-- The pgvector feature: applied by migrations.Up whenever the `vector`
-- extension is available on the server, also long after the core schema (when
-- pgvector is installed later). Every statement is idempotent and only adds
-- objects; existing rows keep their data (the new column is NULL).

CREATE EXTENSION IF NOT EXISTS vector;

-- The embedding column has no fixed dimension: collections choose their own
-- embedder and dimension. Each collection gets an HNSW index on the column
-- cast to its dimension, restricted to its rows; queries must use the same
-- expression, `embedding::vector(<dim>)`, with `collection_id = <id>`.
ALTER TABLE documents ADD COLUMN IF NOT EXISTS embedding vector;

CREATE OR REPLACE FUNCTION geoseek_embedding_index_name(cid bigint, dim integer)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT format('documents_embedding_c%s_d%s_idx', cid, dim)
$$;

-- geoseek_ensure_embedding_index creates the HNSW (cosine) index of one
-- collection for its current dimension, if it is missing.
CREATE OR REPLACE FUNCTION geoseek_ensure_embedding_index(cid bigint)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    dim integer;
BEGIN
    SELECT embedding_dim INTO dim FROM collections WHERE id = cid;
    IF dim IS NULL OR dim > 2000 THEN
        -- HNSW on vector supports up to 2,000 dimensions; larger ones are
        -- searched exactly.
        RETURN;
    END IF;
    EXECUTE format(
        'CREATE INDEX IF NOT EXISTS %I ON documents USING hnsw ((embedding::vector(%s)) vector_cosine_ops) WHERE collection_id = %s',
        geoseek_embedding_index_name(cid, dim), dim, cid);
END;
$$;

CREATE OR REPLACE FUNCTION collections_ensure_embedding_index() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM geoseek_ensure_embedding_index(NEW.id);
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS collections_ensure_embedding_index ON collections;
CREATE TRIGGER collections_ensure_embedding_index
AFTER INSERT OR UPDATE OF embedding_dim ON collections
FOR EACH ROW EXECUTE FUNCTION collections_ensure_embedding_index();

SELECT geoseek_ensure_embedding_index(id) FROM collections;
