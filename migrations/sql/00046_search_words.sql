-- +goose Up
-- Typo tolerance (search/typo.go): each collection's word list, the distinct
-- lexemes of its documents' search vectors, with a trigram index, so that a
-- query word missing from it can be matched to the words within one or two
-- edits. Only lexemes of 3 to 64 characters without digits are listed: a
-- query word is corrected only when it has 5 letters or more and no digit,
-- and its corrections are at most two edits away.
--
-- Writers never wait for each other here. The list has no unique constraint
-- and no counts: a writer adds the words it does not see yet, so two
-- transactions that bring the same new word at the same time may both add
-- it (lookups deduplicate). With a unique key, a single-row write sharing a
-- new word with a bulk load (one transaction for the whole load) would wait
-- for the load to commit, and writers adding new words in different orders
-- could deadlock; with per-word counts, every writer would lock the rows of
-- common words until it commits. Words of deleted or changed documents stay
-- listed (a correction to a word that no longer occurs matches nothing);
-- search_words_refresh(collection_id) rebuilds a collection's list exactly.
CREATE TABLE search_words (
    collection_id bigint NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    word          text NOT NULL
);
CREATE INDEX search_words_word_idx ON search_words (collection_id, word);
CREATE INDEX search_words_trgm_idx ON search_words USING gin (word gin_trgm_ops);

-- search_words_add lists the new words of the rows a statement inserted.
-- Grouping first makes a bulk statement probe each distinct word once.
-- +goose StatementBegin
CREATE FUNCTION search_words_add() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_words (collection_id, word)
    SELECT w.collection_id, w.word
      FROM (SELECT n.collection_id, x.word
              FROM new_rows n, unnest(tsvector_to_array(n.search)) AS x(word)
             GROUP BY 1, 2) w
     WHERE length(w.word) BETWEEN 3 AND 64 AND w.word !~ '[0-9]'
       AND NOT EXISTS (SELECT 1 FROM search_words s WHERE s.collection_id = w.collection_id AND s.word = w.word);
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

-- search_words_change does the same for updated rows whose text changed
-- (geometry or props updates, such as a photo's position, add nothing).
-- +goose StatementBegin
CREATE FUNCTION search_words_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_words (collection_id, word)
    SELECT w.collection_id, w.word
      FROM (SELECT n.collection_id, x.word
              FROM new_rows n JOIN old_rows o ON o.id = n.id
                   CROSS JOIN LATERAL unnest(tsvector_to_array(n.search)) AS x(word)
             WHERE n.search IS DISTINCT FROM o.search OR n.collection_id IS DISTINCT FROM o.collection_id
             GROUP BY 1, 2) w
     WHERE length(w.word) BETWEEN 3 AND 64 AND w.word !~ '[0-9]'
       AND NOT EXISTS (SELECT 1 FROM search_words s WHERE s.collection_id = w.collection_id AND s.word = w.word);
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER search_words_add AFTER INSERT ON documents
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION search_words_add();

CREATE TRIGGER search_words_change AFTER UPDATE ON documents
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION search_words_change();

-- Emptying documents empties the list.
-- +goose StatementBegin
CREATE FUNCTION search_words_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE search_words;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER search_words_truncate AFTER TRUNCATE ON documents
FOR EACH STATEMENT EXECUTE FUNCTION search_words_truncate();

-- search_words_refresh rebuilds a collection's list from its documents:
-- words no document has any more go, duplicates merge. Words that
-- transactions still running add are kept (the DELETE does not see them).
-- +goose StatementBegin
CREATE FUNCTION search_words_refresh(cid bigint) RETURNS void
LANGUAGE sql AS $$
    DELETE FROM search_words WHERE collection_id = cid;
    INSERT INTO search_words (collection_id, word)
    SELECT DISTINCT cid, x.word
      FROM documents d, unnest(tsvector_to_array(d.search)) AS x(word)
     WHERE d.collection_id = cid AND length(x.word) BETWEEN 3 AND 64 AND x.word !~ '[0-9]';
$$;
-- +goose StatementEnd

INSERT INTO search_words (collection_id, word)
SELECT DISTINCT d.collection_id, x.word
  FROM documents d, unnest(tsvector_to_array(d.search)) AS x(word)
 WHERE length(x.word) BETWEEN 3 AND 64 AND x.word !~ '[0-9]';

-- +goose Down
DROP TRIGGER search_words_truncate ON documents;
DROP TRIGGER search_words_change ON documents;
DROP TRIGGER search_words_add ON documents;
DROP FUNCTION search_words_refresh(bigint);
DROP FUNCTION search_words_truncate();
DROP FUNCTION search_words_change();
DROP FUNCTION search_words_add();
DROP TABLE search_words;
