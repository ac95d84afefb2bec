-- search_impacts: impact tiers for exact top-k keyword ranking that stops
-- early (search/keyword_impact.go). For a query of one lexeme, geoseek's
-- relevance ts_rank_cd('{0.1, 0.2, 0.4, 1.0}', search, q) is the sum of the
-- weights of the lexeme's positions in the document (each position is its
-- own cover): 1.0 per title (A) occurrence, 0.4 per body (B) occurrence.
-- search_impacts lists, for each lexeme whose sum reaches 2.0, one token
-- 'lexeme#tier': the highest tier (in tenths: 20, 25, 30, ... 2560) not
-- above the sum, computed exactly in integer tenths. A GIN index over it
-- (documents_search_impacts_idx, migration 00031) answers "which documents
-- score at least T for this lexeme" by reading a few short posting lists,
-- so the best 20 of many matches are found by ranking a few hundred
-- documents, and the result is provably the same as ranking all of them.
-- Lexemes scoring below 2.0 get no token, which keeps the index and the
-- write cost small (figures in docs/search.md and docs/performance.md).
--
-- The index stores this function's output: a change here must give the
-- same output for every tsvector (as the cheaper filter below did), and
-- the weights must stay those of search.RankWeights. A change of output
-- needs a function of a new name and a migration that builds its index.
CREATE OR REPLACE FUNCTION search_impacts(v tsvector) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    r   record;
    s   int;
    out text[] := '{}';
BEGIN
    -- A sum of 2.0 needs two positions if one is in the title (A, 1.0),
    -- else five (no other weight exceeds 0.4): most lexemes stop here.
    FOR r IN SELECT u.lexeme, u.weights FROM unnest(v) u
             WHERE cardinality(u.positions) >= 5 OR (cardinality(u.positions) >= 2 AND 'A' = ANY (u.weights)) LOOP
        s := 10 * cardinality(array_positions(r.weights, 'A')) + 4 * cardinality(array_positions(r.weights, 'B'))
           + 2 * cardinality(array_positions(r.weights, 'C')) + cardinality(array_positions(r.weights, 'D'));
        IF s >= 20 THEN
            out := out || (r.lexeme || '#' || CASE
                WHEN s >= 2560 THEN 2560 WHEN s >= 2000 THEN 2000 WHEN s >= 1600 THEN 1600
                WHEN s >= 1280 THEN 1280 WHEN s >= 1000 THEN 1000 WHEN s >= 800 THEN 800
                WHEN s >= 640 THEN 640 WHEN s >= 500 THEN 500 WHEN s >= 400 THEN 400
                WHEN s >= 320 THEN 320 WHEN s >= 250 THEN 250 WHEN s >= 200 THEN 200
                WHEN s >= 160 THEN 160 WHEN s >= 120 THEN 120 WHEN s >= 100 THEN 100
                WHEN s >= 80 THEN 80 WHEN s >= 70 THEN 70 WHEN s >= 60 THEN 60
                WHEN s >= 50 THEN 50 WHEN s >= 40 THEN 40 WHEN s >= 35 THEN 35
                WHEN s >= 30 THEN 30 WHEN s >= 25 THEN 25 ELSE 20 END);
        END IF;
    END LOOP;
    RETURN out;
END
$$;
