-- +goose Up
-- Pair impacts: exact top-k for two-word phrases ("shared library") that
-- stops early, as search_impacts does for one word (search/keyword_pair.go).
--
-- For a phrase of two different lexemes a <-> b, every cover ts_rank_cd
-- finds is one occurrence of a at position p followed by b at p + 1: two
-- entries, no noise. So ts_rank_cd('{0.1, 0.2, 0.4, 1.0}', search, a <-> b)
-- is the sum, over those occurrences, of the harmonic mean of the two
-- positions' weights: 1.0 for a title bigram, 0.4 for a body bigram, 0.571
-- for one across the two. search_pair_impacts lists, for each ordered pair
-- of different lexemes whose sum reaches 1.8, one token
-- '<length of a>:<a><b>#<tier>' (the length makes the pair unambiguous),
-- with tier the highest of 18, 20, 25, 30, 40, 50, 60, 80, 100, 120, 160
-- (tenths) not above the sum. The sum is exact in integers: with weights in
-- tenths (10, 4, 2, 1) every harmonic mean 2xy/(x+y) is a whole multiple of
-- 1/4620 of a tenth. The top tier is 16.0: above it, scores 1/46200 apart
-- could round to the same float4 once normalised, so one round ranks them
-- all together.
--
-- A pair reaching 1.8 needs two occurrences of each lexeme (each cover
-- holds a distinct occurrence of the pair and is worth at most 1.0), so
-- only lexemes with two positions or more are paired. Covers are single
-- occurrences only while the two lexemes never share a position; a
-- dictionary may put two lexemes at one position, and every word past
-- the 16383rd is at 16383. A document where two such lexemes share a
-- position gets the token '#apart' and no pair tokens, and search ranks
-- the documents with it apart, exactly. About 0.23 tokens per document on
-- English package descriptions (a fifth of search_impacts').
--
-- The index stores this function's output: a change of output needs a
-- function of a new name and a migration that builds its index.
-- +goose StatementBegin
CREATE FUNCTION search_pair_impacts(v tsvector) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    apart boolean;
    out   text[];
BEGIN
    -- plpgsql keeps this statement's plan for the session; an SQL function
    -- would plan it again for every written row.
    WITH e AS MATERIALIZED (
        SELECT u.lexeme AS l, p.pos,
               CASE p.w WHEN 'A' THEN 10 WHEN 'B' THEN 4 WHEN 'C' THEN 2 ELSE 1 END AS w
        FROM unnest(v) u, unnest(u.positions, u.weights) AS p(pos, w)
        WHERE cardinality(u.positions) >= 2),
    s AS (
        -- 9240 * x * y / (x + y) is the harmonic mean in units of 1/4620 of
        -- a tenth, an exact integer for every pair of weights.
        SELECT x.l AS a, y.l AS b, sum(9240 * x.w * y.w / (x.w + y.w)) AS s
        FROM e x JOIN e y ON y.pos = x.pos + 1 AND x.l <> y.l
        GROUP BY 1, 2)
    SELECT (SELECT count(*) <> count(DISTINCT e.pos) FROM e),
           (SELECT coalesce(array_agg(length(s.a) || ':' || s.a || s.b || '#' || CASE
                WHEN s.s >= 160 * 4620 THEN 160 WHEN s.s >= 120 * 4620 THEN 120 WHEN s.s >= 100 * 4620 THEN 100
                WHEN s.s >= 80 * 4620 THEN 80 WHEN s.s >= 60 * 4620 THEN 60 WHEN s.s >= 50 * 4620 THEN 50
                WHEN s.s >= 40 * 4620 THEN 40 WHEN s.s >= 30 * 4620 THEN 30 WHEN s.s >= 25 * 4620 THEN 25
                WHEN s.s >= 20 * 4620 THEN 20 ELSE 18 END ORDER BY s.a, s.b), '{}')
            FROM s WHERE s.s >= 18 * 4620)
    INTO apart, out;
    IF apart THEN
        RETURN '{#apart}';
    END IF;
    RETURN out;
END
$$;
-- +goose StatementEnd
CREATE INDEX IF NOT EXISTS documents_search_pairs_idx ON documents USING gin (search_pair_impacts(search)) WITH (fastupdate = off);

-- +goose Down
DROP INDEX IF EXISTS documents_search_pairs_idx;
DROP FUNCTION IF EXISTS search_pair_impacts(tsvector);
