-- Ranking an AND of words: ts_rank_cd against rankings that add per-word
-- scores (docs/performance.md, "An AND of common words: what a labelled
-- sample says"). Run against the bench database after its search corpus
-- is loaded:
--
--   psql "$DATABASE_URL" -v coll=<id of the debian collection> -f scripts/and-ranking-study.sql
--
-- Relevance comes from a field the ranking never reads: a query is labelled
-- with the Debian sections its packages belong to ("python library" ->
-- python). The corpus holds each package about 15 times; one document per
-- package is ranked. Everything is in temporary tables.
\set ON_ERROR_STOP on
\timing off
SET jit = off;
SET max_parallel_workers_per_gather = 0;

CREATE TEMP TABLE labelled (q text PRIMARY KEY, sections text[] NOT NULL);
INSERT INTO labelled VALUES
  ('python library', '{python}'), ('development files', '{libdevel}'), ('perl module', '{perl}'),
  ('haskell library', '{haskell}'), ('java library', '{java}'), ('ruby library', '{ruby}'),
  ('javascript library', '{javascript}'), ('rust crate', '{rust}'), ('go library', '{golang}'),
  ('text editor', '{editors}'), ('web server', '{httpd}'), ('email client', '{mail}'),
  ('audio player', '{sound}'), ('video player', '{video}'), ('database server', '{database}'),
  ('font family', '{fonts}'), ('kernel module', '{kernel}'), ('debug symbols', '{debug}'),
  ('game engine', '{games}'), ('documentation files', '{doc}'), ('ocaml library', '{ocaml}'),
  ('php library', '{php}'), ('version control system', '{vcs}'), ('ham radio', '{hamradio}'),
  ('latex package', '{tex}'), ('gnome shell extension', '{gnome}'), ('window manager', '{x11}'),
  ('mathematical library', '{math,science}'), ('network monitoring tool', '{net,admin}'),
  ('puzzle game', '{games}'), ('shared library', '{libs}'), ('r package', '{gnu-r}'),
  ('common lisp library', '{lisp}'), ('mono library', '{cli-mono}'),
  ('gobject introspection data', '{introspection}'), ('xfce panel plugin', '{xfce}');

-- The query's words in order, and the pairs of neighbours among them.
CREATE TEMP TABLE words AS
SELECT l.q, row_number() OVER (PARTITION BY l.q ORDER BY t.positions[1]) AS i, t.lexeme
FROM labelled l, unnest(to_tsvector('english', l.q)) t;

CREATE TEMP TABLE one_per_package AS
SELECT min(id) AS id FROM documents WHERE collection_id = :coll GROUP BY props ->> 'package';

-- Per match: ts_rank_cd of the AND (no normalisation), each word's
-- one-word score s_w (the sum of its weights) and each neighbour pair's
-- side-by-side score p in either order (what the pair tiers index).
CREATE TEMP TABLE feats AS
SELECT l.q, d.id, (d.props ->> 'section') = ANY (l.sections) AS rel,
       ts_rank_cd('{0.1, 0.2, 0.4, 1.0}', d.search, websearch_to_tsquery('english', l.q), 0) AS cd,
       (SELECT min(ts_rank_cd('{0.1, 0.2, 0.4, 1.0}', d.search, quote_literal(w.lexeme)::tsquery, 0)) FROM words w WHERE w.q = l.q) AS smin,
       (SELECT sum(ts_rank_cd('{0.1, 0.2, 0.4, 1.0}', d.search, quote_literal(w.lexeme)::tsquery, 0)) FROM words w WHERE w.q = l.q) AS ssum,
       (SELECT coalesce(sum(ts_rank_cd('{0.1, 0.2, 0.4, 1.0}', d.search, tsquery_phrase(quote_literal(a.lexeme)::tsquery, quote_literal(b.lexeme)::tsquery), 0)
                          + ts_rank_cd('{0.1, 0.2, 0.4, 1.0}', d.search, tsquery_phrase(quote_literal(b.lexeme)::tsquery, quote_literal(a.lexeme)::tsquery), 0)), 0)
          FROM words a JOIN words b ON b.q = a.q AND b.i = a.i + 1 WHERE a.q = l.q) AS psum
FROM labelled l
JOIN documents d ON d.collection_id = :coll AND d.search @@ websearch_to_tsquery('english', l.q)
WHERE d.id IN (SELECT id FROM one_per_package);

CREATE TEMP TABLE rankings AS
SELECT f.q, f.id, f.rel, r.name, r.score
FROM feats f
CROSS JOIN LATERAL (VALUES
  ('ts_rank_cd (today)', f.cd),
  ('sum of word scores', f.ssum),
  ('least word score', f.smin),
  ('least word score + side-by-side pairs', f.smin + f.psum),
  ('sum of word scores + side-by-side pairs', f.ssum + f.psum),
  ('side-by-side pairs alone', f.psum)) AS r(name, score);

-- Precision at 10 and 20 and binary nDCG@20 (ties broken by id, as search does),
-- and how many of ts_rank_cd's top 20 each ranking keeps.
WITH ranked AS (
  SELECT *, row_number() OVER (PARTITION BY q, name ORDER BY score DESC, id) AS rn FROM rankings
), top AS (SELECT * FROM ranked WHERE rn <= 20),
per_query AS (
  SELECT t.q, t.name,
         avg(t.rel::int) FILTER (WHERE t.rn <= 10) AS p10,
         sum(t.rel::int) / 20.0 AS p20,
         sum(t.rel::int / log(2, t.rn + 1)) / (SELECT sum(1 / log(2, g + 1)) FROM generate_series(1, 20) g) AS ndcg20,
         count(*) FILTER (WHERE t.id IN (SELECT c.id FROM top c WHERE c.q = t.q AND c.name = 'ts_rank_cd (today)')) / 20.0 AS kept
  FROM top t GROUP BY t.q, t.name
)
SELECT name AS ranking, round(avg(p10), 3) AS "P@10", round(avg(p20), 3) AS "P@20",
       round(avg(ndcg20), 3) AS "nDCG@20", round(avg(kept), 2) AS "of today's top 20", count(*) AS queries
FROM per_query GROUP BY name ORDER BY avg(ndcg20) DESC;

-- Why no per-word bound serves these queries: the share of matches whose
-- sum of word scores (the bound of ts_rank_cd) reaches the 20th best score.
WITH th AS (
  SELECT q, min(cd) AS cd20 FROM (
    SELECT q, cd, row_number() OVER (PARTITION BY q ORDER BY cd DESC, id) AS rn FROM feats) x
  WHERE rn <= 20 GROUP BY q
)
SELECT f.q AS query, count(*) AS matches, round(th.cd20::numeric, 2) AS "20th score",
       round(100.0 * count(*) FILTER (WHERE f.ssum >= th.cd20) / count(*)) AS "% that may reach it"
FROM feats f JOIN th USING (q)
GROUP BY f.q, th.cd20 HAVING count(*) >= 1500 ORDER BY count(*) DESC;
