-- The pgvector feature: applied by migrations.Up whenever the `vector`
-- extension is available on the server, also long after the core schema (when
-- pgvector is installed later). Every statement is idempotent and only adds
-- objects; existing rows keep their data (the new column is NULL).

CREATE EXTENSION IF NOT EXISTS vector;

-- The embedding column has no fixed dimension: collections choose their own
-- embedder and dimension. Each collection gets an HNSW index on the column
-- cast to its dimension, restricted to its rows; queries must use the same
-- expression, `embedding::vector(<dim>)`, with `collection_id = <id>`.
-- (Guarded: ALTER TABLE takes its lock even when IF NOT EXISTS finds the
-- column.)
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'documents'::regclass
                      AND attname = 'embedding' AND NOT attisdropped) THEN
        ALTER TABLE documents ADD COLUMN embedding vector;
    END IF;
END;
$$;

-- Keep vectors in the row rather than in TOAST: a 384-d vector is 1.5 kB, and
-- exact scans of filtered rows read them all (measured: 2.5 ms instead of
-- 11.6 ms for a 1% filter). Only when not yet set: the ALTER takes a lock.
DO $$
BEGIN
    IF (SELECT attstorage FROM pg_attribute
         WHERE attrelid = 'documents'::regclass AND attname = 'embedding') <> 'm' THEN
        ALTER TABLE documents ALTER COLUMN embedding SET STORAGE MAIN;
    END IF;
END;
$$;

-- The documents still to embed, for the embedding sweep (embed.Sweep).
CREATE INDEX IF NOT EXISTS documents_embedding_missing_idx
    ON documents (collection_id, id) WHERE embedding IS NULL;

-- A text change makes a computed vector stale: clear it (unless the same
-- write supplies a new one) so the sweep embeds the new text. Collections
-- without an embedder ('none') hold client vectors, which are left alone.
CREATE OR REPLACE FUNCTION documents_clear_stale_embedding() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.title, NEW.body, NEW.lang) IS DISTINCT FROM (OLD.title, OLD.body, OLD.lang)
       AND NEW.embedding IS NOT DISTINCT FROM OLD.embedding
       AND NEW.embedding IS NOT NULL
       AND EXISTS (SELECT 1 FROM collections c WHERE c.id = NEW.collection_id AND c.embedder <> 'none') THEN
        NEW.embedding := NULL;
    END IF;
    RETURN NEW;
END;
$$;

-- Triggers are created only when missing: this file runs at every start,
-- and DROP/CREATE TRIGGER lock the table against writes (and, queued behind
-- a long bulk load, every reader behind them; it deadlocked with a
-- concurrent collection delete in a benchmark). A change to a trigger's
-- events needs its own drop here, guarded the same way.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'documents'::regclass
                      AND tgname = 'documents_clear_stale_embedding') THEN
        CREATE TRIGGER documents_clear_stale_embedding
        BEFORE UPDATE OF title, body, lang ON documents
        FOR EACH ROW EXECUTE FUNCTION documents_clear_stale_embedding();
    END IF;
END;
$$;

CREATE OR REPLACE FUNCTION geoseek_embedding_index_name(cid bigint, dim integer, storage text DEFAULT 'vector')
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT format('documents_embedding_c%s_d%s%s_idx', cid, dim, CASE WHEN storage = 'halfvec' THEN '_h' ELSE '' END)
$$;

-- geoseek_embedding_index_todo returns the CREATE INDEX statement of one
-- collection's HNSW (cosine) index for its current dimension when it is
-- missing (NULL when there is nothing to build), after dropping the
-- collection's indexes of other dimensions.
--
-- Vectors of another dimension (the collection's dimension was changed)
-- cannot go into the index: the cast to vector(<dim>) fails. Vectors the
-- collection's embedder computed are stale anyway: they are cleared, and the
-- index is left to the embedding sweep (embed.Sweep), which recomputes them
-- and then calls this function again (CREATE INDEX indexes the cleared row
-- versions too until they are vacuumed, so it cannot run in the transaction
-- that cleared them, and may have to wait a few sweeps). Until then the
-- collection is searched without its index. Client-provided vectors
-- (embedder 'none') cannot be recomputed: the change is refused with SQLSTATE
-- 55000 (object_not_in_prerequisite_state) and a hint.
CREATE OR REPLACE FUNCTION geoseek_embedding_index_todo(cid bigint)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    dim     integer;
    storage text;
    kind    text;
    cname   text;
    want    text;
    old     text;
    n       bigint;
BEGIN
    SELECT embedding_dim, embedding_storage, embedder, name INTO dim, storage, kind, cname FROM collections WHERE id = cid;
    want := CASE WHEN dim IS NULL THEN NULL ELSE geoseek_embedding_index_name(cid, dim, storage) END;
    -- Drop the collection's indexes for another dimension or element type.
    FOR old IN SELECT indexname FROM pg_indexes
                WHERE tablename = 'documents' AND indexname LIKE format('documents\_embedding\_c%s\_%%', cid)
                  AND indexname IS DISTINCT FROM want LOOP
        EXECUTE format('DROP INDEX IF EXISTS %I', old);
    END LOOP;
    -- An index left invalid by a failed CREATE INDEX CONCURRENTLY is built
    -- again.
    IF EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass(quote_ident(want)) AND NOT indisvalid) THEN
        EXECUTE format('DROP INDEX IF EXISTS %I', want);
    END IF;
    -- HNSW takes vector up to 2,000 and halfvec up to 4,000 dimensions;
    -- larger ones are searched exactly.
    IF dim IS NULL OR (storage = 'vector' AND dim > 2000) OR (storage = 'halfvec' AND dim > 4000)
       OR to_regclass(quote_ident(want)) IS NOT NULL THEN
        RETURN NULL;
    END IF;
    -- Only when the index is to be built: this reads every vector of the
    -- collection.
    SELECT count(*) INTO n FROM documents
     WHERE collection_id = cid AND embedding IS NOT NULL AND vector_dims(embedding) <> dim;
    IF n > 0 AND kind = 'none' THEN
        RAISE EXCEPTION 'collection "%" holds % client-provided vectors of another dimension than %', cname, n, dim
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Vectors of a collection without an embedder are not recomputed: delete them (SET embedding = NULL) or keep the old dimension.';
    END IF;
    IF n > 0 THEN
        UPDATE documents SET embedding = NULL
         WHERE collection_id = cid AND embedding IS NOT NULL AND vector_dims(embedding) <> dim;
        RAISE NOTICE 'collection "%": % vectors of another dimension than % cleared; the embedding sweep recomputes them and builds the index', cname, n, dim;
        RETURN NULL;
    END IF;
    IF storage = 'halfvec' THEN
        RETURN format(
            'CREATE INDEX IF NOT EXISTS %I ON documents USING hnsw ((embedding::halfvec(%s)) halfvec_cosine_ops) WHERE collection_id = %s',
            want, dim, cid);
    END IF;
    RETURN format(
        'CREATE INDEX IF NOT EXISTS %I ON documents USING hnsw ((embedding::vector(%s)) vector_cosine_ops) WHERE collection_id = %s',
        want, dim, cid);
END;
$$;

-- geoseek_ensure_embedding_index builds what geoseek_embedding_index_todo
-- says, in the calling transaction (the collections trigger, migrations).
-- The embedding sweep builds the same statement CONCURRENTLY instead
-- (embed.EnsureIndex), so a large collection's build does not hold off
-- writers of every collection for minutes.
CREATE OR REPLACE FUNCTION geoseek_ensure_embedding_index(cid bigint)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    stmt text;
BEGIN
    stmt := geoseek_embedding_index_todo(cid);
    IF stmt IS NULL THEN
        RETURN;
    END IF;
    BEGIN
        EXECUTE stmt;
    EXCEPTION WHEN data_exception THEN
        -- CREATE INDEX also indexes row versions that some snapshot may
        -- still see, such as the vectors cleared after a change of
        -- dimension, until they are vacuumed: the next sweep tries again.
        RAISE NOTICE 'collection %: no index yet: %', cid, SQLERRM;
    END;
END;
$$;

CREATE OR REPLACE FUNCTION collections_ensure_embedding_index() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM geoseek_ensure_embedding_index(NEW.id);
    RETURN NULL;
END;
$$;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'collections'::regclass
                      AND tgname = 'collections_ensure_embedding_index') THEN
        CREATE TRIGGER collections_ensure_embedding_index
        AFTER INSERT OR UPDATE OF embedding_dim, embedding_storage ON collections
        FOR EACH ROW EXECUTE FUNCTION collections_ensure_embedding_index();
    END IF;
END;
$$;

-- Every collection's index; a collection whose index cannot be built (see
-- geoseek_ensure_embedding_index) is reported as a warning, not a reason to
-- fail the migration.
DO $$
DECLARE
    c record;
BEGIN
    FOR c IN SELECT id, name FROM collections ORDER BY id LOOP
        BEGIN
            PERFORM geoseek_ensure_embedding_index(c.id);
        EXCEPTION WHEN object_not_in_prerequisite_state THEN
            RAISE WARNING 'collection %: no HNSW index: %', c.name, SQLERRM;
        END;
    END LOOP;
END;
$$;
