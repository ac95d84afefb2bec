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
// Ranking cost. ts_rank_cd must read every ranked row's tsvector, so ranking
// all matches of a term found in most of a million rows costs seconds. Each
// relevance query therefore picks a Strategy from the planner's estimate of
// its matched set: exact ranking of every match for rare and medium terms,
// RUM-ordered candidates re-ranked with ts_rank_cd for large sets when the
// RUM index exists (migration 00030, created only where the rum extension is
// available), and the newest matches ranked for the very largest sets. See
// Strategy for the thresholds, the measured quality and the paging limits,
// and internal/bench/search.go for the numbers.
//
// Plans. Statements whose best plan depends on the parameters (a rare term
// wants the index, a common one wants RUM's ordered scan) run in pgx's
// QueryExecModeCacheDescribe mode: unnamed statements, planned with the actual
// values every time, so PostgreSQL never falls back to a generic plan.
package search
