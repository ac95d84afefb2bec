package search

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/geoseek/geoseek/internal/pg"
)

// Strategy is how relevance ranking bounds its work. ts_rank_cd must read
// each ranked row's tsvector from the heap (a few µs per row), so ranking all
// 600,000 matches of a very common term takes seconds. The strategy is chosen
// per query; the automatic strategies return exactly the hits, scores and
// order of ranking every match with ts_rank_cd (score, then id):
//
//   - exact: every match ranked with ts_rank_cd. Used when the planner's
//     estimate of the matched set (EXPLAIN with the actual values, filters
//     included) is at most ImpactMin (PairMin for a phrase), for
//     prefix queries, and when bounded
//     ranking cannot prove its page.
//   - bounded: several lexemes (AND, OR, phrases, negation) and an estimate
//     above ImpactMin: the impact tiers of all the query's lexemes are
//     visited together, highest first, until the page's k-th score beats
//     the per-word bound of every unvisited document (keyword_bound.go).
//   - pair: the query is a phrase of two different lexemes ("shared
//     library") and the estimate is above PairMin: documents are visited in
//     tiers of the phrase's score through the search_pair_impacts GIN index
//     (migration 00055), as impact does for one lexeme (keyword_pair.go).
//   - impact: the query is one lexeme (e.g. "library") and the estimate is
//     above ImpactMin. Documents are visited in tiers of their score for
//     that lexeme, highest first, through the search_impacts GIN index
//     (migration 00031), and ranking stops as soon as a page is full: the
//     tiers are disjoint score ranges, so no document in a lower tier can
//     outrank one already found. See keyword_impact.go. When the tiers run
//     out (fewer than a page of documents score 2.0 or more), the rest is
//     ranked exactly.
//
// Two approximate strategies remain for benchmarks and comparison, used only
// when Config.ForceStrategy asks for them; they page only through their
// candidates, and the page that exhausts them says "truncated": true:
//
//   - rum: the opt-in RUM index (migrations 00030, 00034) returns matches in RUM's own
//     rank order; the best CandidateWindow are re-ranked with ts_rank_cd.
//     RUM's score decays each further occurrence by 1/n² (title first), so
//     its order is not ts_rank_cd's: on the 1M Debian corpus its top 20 for
//     "library" share few documents with the exact top 20.
//   - recent: the newest SampleSize matches ranked with ts_rank_cd.
type Strategy string

// Ranking strategies.
const (
	StrategyExact  Strategy = "exact"
	StrategyImpact Strategy = "impact"
	StrategyRUM    Strategy = "rum"
	StrategyRecent Strategy = "recent"
)

// Strategy thresholds (see Strategy).
const (
	// ImpactMin is the estimated match count above which a one-lexeme
	// query is ranked through the impact tiers.
	ImpactMin = 10_000
	// ExactMaxWithRUM is kept for callers that compare estimates with the
	// old threshold; it equals ImpactMin.
	ExactMaxWithRUM   = ImpactMin
	DefaultSampleSize = 5_000
	// DefaultFacetExactMax is the estimated match count above which facets
	// are counted over a sample of the table (flagged approximate), when the
	// sample confirms the matched set is that large.
	DefaultFacetExactMax = 20_000
	// DefaultFacetScanRows is the number of table rows a facet sample reads
	// (whole pages, TABLESAMPLE SYSTEM).
	DefaultFacetScanRows = 60_000
)

// strategy picks the ranking strategy of p: the cursor's when paging (so all
// pages rank the same way), else the forced one, else pair for a two-word
// phrase with more than PairMin estimated matches, impact or bounded for
// other queries with more than ImpactMin, else exact. t are the query's
// lexemes for impact, pair and bounded.
func (s *Service) strategy(ctx context.Context, p *Plan) (strat Strategy, t terms, err error) {
	if p.cursor != nil && p.cursor.Strategy != "" {
		switch p.cursor.Strategy {
		case StrategyExact, StrategyRUM, StrategyRecent:
			return p.cursor.Strategy, terms{}, nil
		case StrategyImpact, StrategyBounded, StrategyPair:
			return s.impactOrExact(ctx, p)
		}
		return "", terms{}, errBadCursor
	}
	switch s.forced {
	case "":
	case StrategyImpact, StrategyBounded, StrategyPair:
		return s.impactOrExact(ctx, p)
	default:
		return s.forced, terms{}, nil
	}
	est, err := s.Estimate(ctx, p)
	if err != nil {
		return "", terms{}, err
	}
	// Only a quoted phrase can be ranked by pair below ImpactMin: other
	// queries skip the inspection.
	if est <= PairMin || (est <= ImpactMin && !strings.Contains(p.Q.Text, `"`)) {
		return StrategyExact, terms{}, nil
	}
	strat, t, err = s.impactOrExact(ctx, p)
	if err != nil || est > ImpactMin || strat == StrategyPair {
		return strat, t, err
	}
	return StrategyExact, terms{}, nil
}

// Estimate is the planner's estimate of how many documents match p (text
// and filters), from EXPLAIN with the actual parameter values.
func (s *Service) Estimate(ctx context.Context, p *Plan) (float64, error) {
	return s.estimateWhere(ctx, p, p.matchWhere)
}

// estimateWhere is the planner's estimate of the rows of documents d
// satisfying match, asked once per plan.
func (s *Service) estimateWhere(ctx context.Context, p *Plan, match func(*Args) string) (float64, error) {
	a := &Args{}
	sql := "EXPLAIN (FORMAT JSON) SELECT 1 FROM documents d WHERE " + match(a)
	key := sql + "\x00" + fmt.Sprintf("%#v", a.Values())
	if est, ok := p.estimates.Load(key); ok {
		return est.(float64), nil
	}
	est, err := s.explainRows(ctx, sql, a)
	if err == nil {
		p.estimates.Store(key, est)
	}
	return est, err
}

// explainRows runs an EXPLAIN (FORMAT JSON) statement and returns its top
// node's row estimate.
func (s *Service) explainRows(ctx context.Context, sql string, a *Args) (float64, error) {
	rows, err := s.query(ctx, sql, a)
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
func (s *Service) rankedInner(a *Args, p *Plan, strat Strategy, where, tsq string) string {
	switch strat {
	case StrategyRUM:
		// RUM returns matches in its own rank order straight from the
		// index; only the best window rows are read and re-ranked.
		return "SELECT c.id, " + p.rankExpr(a, "c.search", tsq) + " AS score, count(*) OVER () AS n FROM (" +
			"SELECT d.id, d.search FROM documents d WHERE " + where + " ORDER BY d.search <=> " + tsq +
			" LIMIT " + a.Add(s.window) + "::int) c OFFSET 0"
	case StrategyRecent:
		return "SELECT c.id, " + p.rankExpr(a, "c.search", tsq) + " AS score, count(*) OVER () AS n FROM (" +
			"SELECT d.id, d.search FROM documents d WHERE " + where + " ORDER BY d.id DESC" +
			" LIMIT " + a.Add(s.sample) + "::int) c OFFSET 0"
	}
	return "SELECT d.id, " + p.rankExpr(a, "d.search", tsq) + " AS score, NULL::bigint AS n FROM documents d WHERE " + where + " OFFSET 0"
}
