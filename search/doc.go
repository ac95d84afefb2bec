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
// computed only for the rows of the returned page. When the text finds
// nothing, a trigram (pg_trgm word_similarity) search over titles gives typo
// tolerance.
//
// Ranking cost. ts_rank_cd must read every matching row's tsvector, so a term
// matching most of a million rows costs about a second. When the RUM index is
// present (migration 00030, created only where the rum extension is
// available) the query first takes the best candidates in RUM's own order
// (the `<=>` distance, a ts_rank relative computed from the index without
// touching the heap) and re-ranks only those with ts_rank_cd. The candidate
// window is CandidateWindow rows; for queries with fewer matches the result is
// exactly the ts_rank_cd order, for larger ones it is the ts_rank_cd order of
// RUM's best CandidateWindow, and paging ends after that window (the response
// says so with "truncated": true). See docs in keyword.go and the numbers in
// internal/bench/search.go.
//
// Plans. Statements whose best plan depends on the parameters (a rare term
// wants the index, a common one wants RUM's ordered scan) run in pgx's
// QueryExecModeCacheDescribe mode: unnamed statements, planned with the actual
// values every time, so PostgreSQL never falls back to a generic plan.
package search
