-- search_headline: ts_headline of a document's body for a page of hits.
-- ts_headline parses all the text it is given, and the documents that rank
-- highest for common words are often the longest: a page of twenty 80 kB
-- bodies took 250 ms to highlight against 2-20 ms to rank
-- (docs/performance.md). So a long body is highlighted from its first
-- 10,000 characters when they hold a match, and read whole only when they
-- do not. opts must set StartSel to chr(2), which is how a match is
-- recognised.
CREATE OR REPLACE FUNCTION search_headline(cfg regconfig, body text, q tsquery, opts text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN length(body) <= 10000 THEN ts_headline(cfg, body, q, opts)
        ELSE (SELECT CASE WHEN strpos(h, chr(2)) > 0 THEN h ELSE ts_headline(cfg, body, q, opts) END
                FROM (SELECT ts_headline(cfg, left(body, 10000), q, opts) AS h) x)
    END
$$;
