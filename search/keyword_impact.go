package search

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/geoseek/geoseek/internal/pg"
)

// Impact ranking: exact top-k for one-lexeme queries that stops early.
//
// For a tsquery of one lexeme, every position of the lexeme in a document is
// a cover of its own, so ts_rank_cd(RankWeights, search, q) is the sum of the
// weights of the lexeme's positions: 1.0 per title occurrence, 0.4 per body
// occurrence. search_impacts(search) (migration 00031) lists, for every
// lexeme whose sum reaches 2.0, the token "lexeme#tier" with tier the highest
// of impactTiers (tenths) not above the sum, computed exactly in integers;
// a GIN expression index over it finds the documents of one tier by reading
// one short posting list.
//
// Tiers are disjoint score ranges, so the documents of a higher tier all
// outrank those of a lower one. impactTop therefore ranks tier by tier,
// highest first, each round ordered by (score DESC, id) and limited to what
// the page still needs, and stops when the page is full: no unvisited
// document can outrank the ones found. Documents scoring below the lowest
// tier have no token; they are ranked exactly, over the whole matched set,
// only when fewer than a page of documents reach it.
//
// The result equals exact ranking (same ids, scores and order) for any
// filters and cursor, because filters and the cursor condition are applied
// inside every round. Scores lie on a 0.1 grid far above float4 resolution
// (at most 256 positions per lexeme), so the float score and the integer
// tier never disagree about which side of a tier boundary a document is on.

// impactTiers are search_impacts' tiers in tenths, highest first; they must
// match migration 00031.
var impactTiers = []int{2560, 2000, 1600, 1280, 1000, 800, 640, 500, 400, 320, 250, 200, 160, 120, 100, 80, 70, 60, 50, 40, 35, 30, 25, 20}

// impactFirstRound is the lowest tier of the first round: the sparse tiers
// from 10.0 up are ranked together, then each lower tier on its own.
const impactFirstRound = 100

// impactRest is the raw ts_rank_cd below which a document has no impact
// token (scores are multiples of 0.1, the lowest tier is 2.0).
const impactRest = "1.95"

// impactRounds are the token lists of the rounds, highest tier first, with
// each round's lowest tier (tenths).
func impactRounds(lexeme string) (rounds [][]string, lows []int) {
	return tierRounds(func(t int) string { return lexeme + "#" + strconv.Itoa(t) }, impactTiers, impactFirstRound)
}

// tierRounds are the rounds over tiers (highest first) whose token for tier
// t is tok(t): the tiers from first up in one round, then each lower tier
// on its own, with each round's lowest tier.
func tierRounds(tok func(int) string, tiers []int, first int) (rounds [][]string, lows []int) {
	var top []string
	for _, t := range tiers {
		if t >= first {
			top = append(top, tok(t))
			continue
		}
		if top != nil {
			rounds, lows = append(rounds, top), append(lows, first)
			top = nil
		}
		rounds, lows = append(rounds, []string{tok(t)}), append(lows, t)
	}
	if top != nil {
		rounds, lows = append(rounds, top), append(lows, first)
	}
	return rounds, lows
}

// impactOrExact returns StrategyImpact and the lexeme when p's text is one
// lexeme without prefix or weight restriction, StrategyPair and the two
// lexemes when it is a phrase of two different ones, StrategyBounded and
// the lexemes when it has several (none with a prefix or weights), else
// StrategyExact.
func (s *Service) impactOrExact(ctx context.Context, p *Plan) (Strategy, terms, error) {
	if !p.HasText() || p.Q.Prefix {
		return StrategyExact, terms{}, nil
	}
	a := &Args{}
	tsq := p.TSQuery(a)
	var nodes int
	var text string
	var indexed, paired bool
	// Without a valid impact index (migration 00031 not applied, the index
	// dropped or being rebuilt) the rounds would compute search_impacts for
	// every row: rank exactly instead. Likewise the pair index (00055).
	if err := s.queryRow(ctx, "SELECT numnode("+tsq+"), ("+tsq+")::text,"+
		" EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass('documents_search_impacts_idx') AND indisvalid),"+
		" EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass('documents_search_pairs_idx') AND indisvalid)",
		a, &nodes, &text, &indexed, &paired); err != nil {
		return "", terms{}, fmt.Errorf("search: inspect query: %w", pg.Interpret(err))
	}
	if nodes == 0 || !indexed {
		return StrategyExact, terms{}, nil
	}
	if nodes == 1 {
		lex, ok := tsqueryLexeme(text)
		if !ok {
			return StrategyExact, terms{}, nil
		}
		return StrategyImpact, terms{lexemes: []string{lex}}, nil
	}
	t, ok := tsqueryTerms(text)
	if !ok || len(t.lexemes) > maxBoundedLexemes {
		return StrategyExact, terms{}, nil
	}
	if paired && pairPhrase(text, t) {
		return StrategyPair, t, nil
	}
	return StrategyBounded, t, nil
}

// tsqueryLexeme parses the text form of a one-operand tsquery, 'lexeme'
// (PostgreSQL doubles ' and \ inside it). A suffix (:* prefix, :AB weights)
// or anything else unexpected is not a plain lexeme.
func tsqueryLexeme(s string) (string, bool) {
	if len(s) < 2 || s[0] != '\'' || s[len(s)-1] != '\'' {
		return "", false
	}
	in := s[1 : len(s)-1]
	var b strings.Builder
	for i := 0; i < len(in); i++ {
		c := in[i]
		if c == '\'' || c == '\\' {
			if i+1 >= len(in) || in[i+1] != c {
				return "", false
			}
			i++
		}
		b.WriteByte(c)
	}
	return b.String(), b.Len() > 0
}

// impactHit is one ranked document of impactTop.
type impactHit struct {
	id    int64
	score float32
}

// impactTop returns the best need documents of the one-lexeme query p
// (after keyword cursor c, if not nil), best first, exactly as ranking every
// match would (see the comment at the top of this file).
func (s *Service) impactTop(ctx context.Context, p *Plan, lexeme string, need int, c *cursor) ([]impactHit, error) {
	rounds, lows := impactRounds(lexeme)
	return s.tierTop(ctx, p, tierWalk{index: "search_impacts(d.search)", rounds: rounds, lows: lows, rest: impactRest}, need, c)
}

// tierWalk is a walk down disjoint score tiers of an impact index: every
// match with a token of a round scores at least that round's low (tenths)
// and below the previous round's, and every match without a token scores
// below rest (raw ts_rank_cd).
type tierWalk struct {
	index  string // the indexed expression, over d.search
	rounds [][]string
	lows   []int
	rest   string
}

// tierTop returns the best need matches of p after cursor c through the
// tiers of w, best first, exactly as ranking every match would: a round
// holds better documents than every later one, so the walk stops as soon
// as the page is full; when the tiers run out, the rest is ranked exactly.
func (s *Service) tierTop(ctx context.Context, p *Plan, w tierWalk, need int, c *cursor) ([]impactHit, error) {
	var after float64 = -1 // raw score of the cursor, to skip tiers above it
	if c != nil {
		var k float32
		if _, err := fmt.Sscan(string(c.Key), &k); err != nil || k < 0 || k >= 1 {
			return nil, errBadCursor
		}
		after = float64(k) / (1 - float64(k))
	}
	var out []impactHit
	for i, toks := range w.rounds {
		// A tier entirely above the cursor's score holds nothing after it.
		if after >= 0 && float64(w.lows[i])/10 > after+0.05 {
			continue
		}
		got, err := s.impactRound(ctx, p, c, w.index+" && $TOKENS::text[]", toks, need-len(out))
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
		if len(out) >= need {
			return out, nil
		}
	}
	// Fewer than need documents reach the lowest tier: rank the rest exactly.
	got, err := s.impactRound(ctx, p, c, "ts_rank_cd("+RankWeights+", d.search, $TSQ) < "+w.rest, nil, need-len(out))
	if err != nil {
		return nil, err
	}
	return append(out, got...), nil
}

// impactRound ranks the matches of p satisfying cond (with $TOKENS bound to
// toks and $TSQ to the query) after cursor c and returns the best limit.
func (s *Service) impactRound(ctx context.Context, p *Plan, c *cursor, cond string, toks []string, limit int) ([]impactHit, error) {
	a := &Args{}
	where := p.Where(a)
	tsq := p.TSQuery(a)
	if toks != nil {
		cond = strings.Replace(cond, "$TOKENS", a.Add(toks), 1)
	}
	cond = strings.Replace(cond, "$TSQ", tsq, 1)
	rank := RankExpr("d.search", tsq)
	// A tier round tests the match on its own rows, never through the
	// full-text index: a round's token documents are few, and the planner
	// would AND their bitmap with one of every match of the query, which
	// for a common phrase cost more than all the rest (docs/performance.md).
	// The last round (no tokens: every match below the tiers) has only the
	// full-text index to find its rows; hidden from it, it read every
	// document of the collection.
	match := "(d.search @@ " + tsq + ") IS TRUE"
	if toks == nil {
		match = "d.search @@ " + tsq
	}
	sql := "SELECT d.id, " + rank + " AS score FROM documents d WHERE " + where + " AND " + cond + " AND " + match
	if c != nil {
		k, err := keyParam(a, keyScore, c.Key)
		if err != nil {
			return nil, err
		}
		id := a.Add(c.ID) + "::bigint"
		sql += " AND (" + rank + " < " + k + " OR (" + rank + " = " + k + " AND d.id > " + id + "))"
	}
	sql += " ORDER BY score DESC, d.id LIMIT " + a.Add(limit) + "::int"
	rows, err := s.query(ctx, sql, a)
	if err != nil {
		return nil, fmt.Errorf("search: impact ranking: %w", pg.Interpret(err))
	}
	defer rows.Close()
	var out []impactHit
	for rows.Next() {
		var h impactHit
		if err := rows.Scan(&h.id, &h.score); err != nil {
			return nil, fmt.Errorf("search: impact ranking: %w", pg.Interpret(err))
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("search: impact ranking: %w", pg.Interpret(err))
	}
	return out, nil
}

// impactRanked binds hits into a and returns a statement yielding them as
// (id, score) in rank order.
func impactRanked(a *Args, hits []impactHit) string {
	ids := make([]int64, len(hits))
	scores := make([]float32, len(hits))
	for i, h := range hits {
		ids[i], scores[i] = h.id, h.score
	}
	return "SELECT u.id, u.score FROM unnest(" + a.Add(ids) + "::bigint[], " + a.Add(scores) + "::real[]) WITH ORDINALITY AS u(id, score, o) ORDER BY u.o"
}

// queryRow runs a one-row statement like query.
func (s *Service) queryRow(ctx context.Context, sql string, a *Args, dest ...any) error {
	rows, err := s.query(ctx, sql, a)
	if err != nil {
		return err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return fmt.Errorf("no row")
	}
	if err := rows.Scan(dest...); err != nil {
		return err
	}
	rows.Close()
	return rows.Err()
}

// ImpactTiers returns the impact tiers in tenths, highest first (for tests
// that check migration 00031 against them).
func ImpactTiers() []int { return append([]int(nil), impactTiers...) }
