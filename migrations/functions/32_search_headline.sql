-- search_headline: ts_headline of a document's body for a page of hits.
-- ts_headline parses all the text it is given (about 1.5 ms for 10,000
-- characters), and the documents that rank highest for common words are
-- often the longest: a page of twenty 80 kB bodies took 250 ms to
-- highlight against 2-20 ms to rank (docs/performance.md). So a long body
-- is highlighted from 3,000 bytes around the first place where one of the
-- query's words seems to occur (the start of its stem, as written, found
-- by a search of the bytes rather than a parse), unless that place is in
-- the first 9,000 bytes or the stretch holds no match: then from the first
-- stretch of 10,000 characters that holds one (stretches overlap by 500,
-- so a phrase across a cut is seen whole). A body with no match anywhere
-- gives its start, as ts_headline of the whole body would. opts must set
-- StartSel to chr(2), which is how a match is recognised.
CREATE OR REPLACE FUNCTION search_headline(cfg regconfig, body text, q tsquery, opts text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    h text;
    first text;
    at int := 1;
    b bytea;
    near int;
    s int;
    e int;
BEGIN
    IF length(body) <= 10000 THEN
        RETURN ts_headline(cfg, body, q, opts);
    END IF;
    -- Where a match may start: the first place in the body of a query
    -- word's stem less its last letter, which is usually how the word
    -- starts whatever its ending (librari: library, libraries). Searched in
    -- bytes: a search of the text counts characters up to the place found,
    -- which cost more than the parse it saves.
    b := convert_to(body, 'UTF8');
    SELECT min(nullif(position(convert_to(left(m[1], greatest(length(m[1]) - 1, 3)), 'UTF8') IN b), 0)) INTO near
    FROM regexp_matches(querytree(q), '''((?:[^'']|'''')+)''', 'g') AS m;
    IF near > 9000 THEN
        -- 1,000 bytes before it to 2,000 after, cut at whole characters
        -- (a UTF-8 continuation byte is 10xxxxxx).
        s := near - 1000;
        e := least(s + 3000, length(b) + 1);
        WHILE s < e AND get_byte(b, s - 1) BETWEEN 128 AND 191 LOOP
            s := s + 1;
        END LOOP;
        WHILE e <= length(b) AND get_byte(b, e - 1) BETWEEN 128 AND 191 LOOP
            e := e - 1;
        END LOOP;
        h := ts_headline(cfg, convert_from(substring(b FROM s FOR e - s), 'UTF8'), q, opts);
        IF strpos(h, chr(2)) > 0 THEN
            RETURN h;
        END IF;
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
