-- search_headline: ts_headline of a document's body for a page of hits.
-- ts_headline parses all the text it is given, and the documents that rank
-- highest for common words are often the longest: a page of twenty 80 kB
-- bodies took 250 ms to highlight against 2-20 ms to rank
-- (docs/performance.md). So a long body is highlighted from the first
-- stretch of 10,000 characters that holds a match (stretches overlap by
-- 500, so a phrase across a cut is seen whole); a body with no match
-- anywhere gives its start, as ts_headline of the whole body would. opts
-- must set StartSel to chr(2), which is how a match is recognised.
CREATE OR REPLACE FUNCTION search_headline(cfg regconfig, body text, q tsquery, opts text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    h text;
    first text;
    at int := 1;
BEGIN
    IF length(body) <= 10000 THEN
        RETURN ts_headline(cfg, body, q, opts);
    END IF;
    LOOP
        h := ts_headline(cfg, substr(body, at, 10000), q, opts);
        IF strpos(h, chr(2)) > 0 THEN
            RETURN h;
        END IF;
        first := coalesce(first, h);
        at := at + 9500;
        EXIT WHEN at > length(body);
    END LOOP;
    RETURN first;
END;
$$;
