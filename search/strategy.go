package search

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/geoseek/geoseek/internal/pg"
)

// Strategy is how relevance ranking bounds its work. ts_rank_cd must read
// each ranked row's tsvector from the heap (a few µs per row), so ranking all
// 600,000 matches of a very common term takes seconds. The strategy is chosen
// per query from the planner's estimate of the matched set (EXPLAIN of the
// match condition, filters included; PostgreSQL keeps per-lexeme frequencies
// for the tsvector column, so the estimate is close for common terms and an
// over-estimate for rare ones):
//
//   - exact: every match ranked with ts_rank_cd. Used while the estimate is
//     at most ExactMax (20,000 with RUM, 60,000 without), i.e. always for
//     rare and medium terms without RUM. Paging is unbounded.
//   - rum: the RUM index returns matches in its own rank order (ts_rank from
//     index data, no heap reads); the best CandidateWindow (1,000) are
//     re-ranked with ts_rank_cd. Used above ExactMax up to RUMMax (200,000)
//     when the RUM index exists. Measured on the 1M Debian corpus: top-20
//     identical to exact ranking for medium terms (20/20 for five terms with
//     2,700–39,000 matches) and 18/20 at 146,000 matches.
//   - recent: for the largest match sets, the newest SampleSize (5,000)
//     matches (a backward scan of the primary key, which stops early) are
//     ranked with ts_rank_cd. This is the "cheap pre-order" that stops early:
//     results are the best of the newest matches, not of all matches, and the
//     response says "ranking": "recent". A query this broad usually gets
//     refined (more words, filters), which brings it back to exact or rum.
//
// rum and recent page only through their candidates; the page that exhausts
// them says "truncated": true.
type Strategy string

// Ranking strategies.
const (
	StrategyExact  Strategy = "exact"
	StrategyRUM    Strategy = "rum"
	StrategyRecent Strategy = "recent"
)

// Strategy thresholds (see Strategy).
const (
	ExactMaxWithRUM    = 20_000
	ExactMaxWithoutRUM = 60_000
	RUMMax             = 200_000
	DefaultSampleSize  = 5_000
)

// strategy picks the ranking strategy of p: the cursor's when paging (so all
// pages rank the same candidates), else from the estimated match count.
func (s *Service) strategy(ctx context.Context, p *Plan) (Strategy, error) {
	if p.cursor != nil && p.cursor.Strategy != "" {
		switch p.cursor.Strategy {
		case StrategyExact, StrategyRUM, StrategyRecent:
			return p.cursor.Strategy, nil
		}
		return "", errBadCursor
	}
	if s.forced != "" {
		return s.forced, nil
	}
	rum, err := s.HasRUM(ctx)
	if err != nil {
		return "", err
	}
	est, err := s.Estimate(ctx, p)
	if err != nil {
		return "", err
	}
	switch {
	case rum && est <= ExactMaxWithRUM, !rum && est <= ExactMaxWithoutRUM:
		return StrategyExact, nil
	case rum && est <= RUMMax:
		return StrategyRUM, nil
	}
	return StrategyRecent, nil
}

// Estimate is the planner's estimate of how many documents match p (text
// and filters), from EXPLAIN with the actual parameter values.
func (s *Service) Estimate(ctx context.Context, p *Plan) (float64, error) {
	a := &Args{}
	rows, err := s.query(ctx, "EXPLAIN (FORMAT JSON) SELECT 1 FROM documents d WHERE "+p.matchWhere(a), a)
	if err != nil {
		return 0, fmt.Errorf("search: estimate: %w", pg.Interpret(err))
	}
	defer rows.Close()
	var plan []struct {
		Plan struct {
			Rows float64 `json:"Plan Rows"`
		} `json:"Plan"`
	}
	for rows.Next() {
		var raw []byte
		if err := rows.Scan(&raw); err != nil {
			return 0, fmt.Errorf("search: estimate: %w", err)
		}
		if err := json.Unmarshal(raw, &plan); err != nil {
			return 0, fmt.Errorf("search: estimate: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("search: estimate: %w", pg.Interpret(err))
	}
	if len(plan) == 0 {
		return 0, fmt.Errorf("search: estimate: empty plan")
	}
	return plan[0].Plan.Rows, nil
}

// rankedInner is the subquery yielding (id, score, n) of the candidates
// strat ranks, n being the number of candidates (NULL for exact).
func (s *Service) rankedInner(a *Args, strat Strategy, where, tsq string) string {
	switch strat {
	case StrategyRUM:
		// RUM returns matches in its own rank order straight from the
		// index; only the best window rows are read and re-ranked.
		return "SELECT c.id, " + RankExpr("c.search", tsq) + " AS score, count(*) OVER () AS n FROM (" +
			"SELECT d.id, d.search FROM documents d WHERE " + where + " ORDER BY d.search <=> " + tsq +
			" LIMIT " + a.Add(s.window) + "::int) c OFFSET 0"
	case StrategyRecent:
		return "SELECT c.id, " + RankExpr("c.search", tsq) + " AS score, count(*) OVER () AS n FROM (" +
			"SELECT d.id, d.search FROM documents d WHERE " + where + " ORDER BY d.id DESC" +
			" LIMIT " + a.Add(s.sample) + "::int) c OFFSET 0"
	}
	return "SELECT d.id, " + RankExpr("d.search", tsq) + " AS score, NULL::bigint AS n FROM documents d WHERE " + where + " OFFSET 0"
}
