// Package search is geoseek's query model and keyword search.
//
// A request (GET query parameters or a POST JSON body) is parsed and validated
// into a typed Query: the collection, the text, a filter tree (AND/OR/NOT over
// tag, props, period, geo and time-window conditions), a sort, a page size and
// an opaque cursor. Invalid input is a *problem.ValidationError naming the
// field (and the position within it, where a parser knows it), which the HTTP
// layer answers with 400.
//
// A Query compiles to ONE SQL statement. Every value is bound as a $N
// parameter through an Args builder; identifiers come only from fixed
// allow-lists (column names written in this package), and user-supplied props
// paths travel as text[] or jsonpath parameters, never as SQL text. The
// compiled filter (Query.Where) is a WHERE fragment over the documents table
// aliased "d", so other rankings (the semantic and hybrid modes in
// semantic*.go and hybrid*.go) reuse it in the same statement and append their
// own clauses and parameters to the same Args.
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
// the page is full. Every other query (several lexemes, OR, phrases,
// negation, prefixes, or small match sets) ranks every match. See Strategy,
// and cmd/geoseek-bench/bench/search.go for the numbers. The approximate strategies
// (RUM-ordered candidates, newest matches) run only when forced by
// Config.ForceStrategy; the RUM index is opt-in (migration 00034).
//
// Plans. Statements whose best plan depends on the parameters (a rare term
// wants the index, a common one its impact tiers) run in pgx's
// QueryExecModeCacheDescribe mode: unnamed statements, planned with the actual
// values every time, so PostgreSQL never falls back to a generic plan.
package search
