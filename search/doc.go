// Package search is geoseek's query model and its search modes: keyword,
// semantic (by meaning, over vectors) and hybrid (both, fused).
//
// A request (GET query parameters or a POST JSON body) is parsed and validated
// into a typed Query: the collection, the text, a filter tree (AND/OR/NOT over
// tag, props, period, geo and time-window conditions), a sort, a page size and
// an opaque cursor. Invalid input is a *problem.ValidationError naming the
// field (and the position within it, where a parser knows it), which the HTTP
// layer answers with 400.
//
// Files. query.go is the Query model; parse_values.go parses the query
// string (GET), parse_body.go the JSON form (the POST body and any filter
// tree); both build conditions with the constructors of parse_filter.go
// into the filter model of filter.go, so a condition means the same in
// either form. service.go resolves a Query into a Plan and picks the mode:
// keyword.go (with keyword_impact.go, strategy.go and typo.go), or
// semantic_mode.go for semantic and hybrid search, answered by the
// Service's Semantic (semantic.go, hybrid.go, semantic_page.go).
//
// SQL. Every value is bound as a $N parameter through an Args builder;
// identifiers come only from fixed allow-lists (column names written in
// this package), and user-supplied props paths travel as text[] or
// jsonpath parameters, never as SQL text. The compiled filter (Query.Where)
// is a WHERE fragment over the documents table aliased "d", which every
// statement of every mode reuses, appending its own clauses and parameters
// to the same Args.
//
// Round trips. A search is a few statements, each one round trip, in order:
//
//   - the collection's row (semantic queries reuse it for a while, see
//     lookupCollection); the list of text search configurations is read
//     once per process when lang is given;
//   - with typo tolerance, one lookup of the query's words in the
//     collection's word list (none when no word has 5 letters or more);
//     when the first page finds nothing, a second lookup and page;
//   - a relevance-ordered keyword query first asks the planner for its
//     estimated match count (EXPLAIN, Estimate) to choose its Strategy,
//     unless a cursor, a forced strategy or a corrected query fixes it;
//     impact ranking then reads one or more tiers before the page;
//   - the page: ranking and the page's documents in one statement;
//   - facets, when asked, one statement over the whole matched set.
//
// So a relevance search with facets is 3-4 round trips (collection,
// estimate, page, facets), one more with typo tolerance. A semantic page is
// one batch (the plan's settings, the kNN with its documents, and the count
// of unembedded documents; see semantic_page.go), after an estimate of a
// filter's selectivity when there is a filter (reused for the same filter
// for a while, see Semantic.estimate). Hybrid search runs the
// keyword ranking and the kNN, counts the unembedded documents, then
// fetches the page by id.
//
// Keyword search uses websearch_to_tsquery in the requested language or the
// collection's default (quotes, OR, -negation), optional as-you-type prefix
// matching of the last term, and ts_rank_cd over the stored tsvector in which
// the title has weight A and the body weight B. Highlights (ts_headline) are
// computed only for the rows of the returned page. Typo tolerance
// (typo.go) corrects query words of 5 letters or more against the
// collection's word list (migration 00046) by rewriting the tsquery, so
// phrases, OR and negation keep their meaning; hits found only through a
// corrected word rank after the others.
//
// Ranking cost and guarantee. ts_rank_cd must read every ranked row's
// tsvector, so ranking all matches of a term found in most of a million rows
// costs seconds. Relevance ranking is nevertheless always exact: a page holds
// exactly the hits, scores and order of ranking every match. A one-lexeme
// query with more than ImpactMin estimated matches is ranked through impact
// tiers (keyword_impact.go, migration 00031): documents are visited in
// disjoint score ranges of that lexeme, highest first, and ranking stops when
// the page is full. A query of several lexemes (AND, OR, phrases,
// negation) with more estimated matches is ranked through the same tiers
// with a per-word bound of ts_rank_cd (keyword_bound.go, "bounded"), and
// ranks every match when the bound cannot prove the page (typically an AND
// of common words). A phrase of different words with more than PairMin estimated
// matches is ranked through pair tiers (keyword_pair.go, migration 00055),
// exactly as one word through its tiers. Prefix queries and small match
// sets rank every match.
// Facets of a matched set estimated above FacetExactMax are counted over a
// block sample of the table and flagged approximate. See Strategy,
// and cmd/geoseek-bench/bench/search.go for the numbers. The approximate strategies
// (RUM-ordered candidates, newest matches) run only when forced by
// Config.ForceStrategy; the RUM index is opt-in (migration 00034).
//
// Plans. Statements whose best plan depends on the parameters (a rare term
// wants the index, a common one its impact tiers) run in pgx's
// QueryExecModeCacheDescribe mode: unnamed statements, planned with the actual
// values every time, so PostgreSQL never falls back to a generic plan.
package search
