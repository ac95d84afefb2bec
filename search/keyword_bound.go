package search

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/geoseek/geoseek/internal/pg"
)

// Bounded ranking: exact top-k for queries of several lexemes (AND, OR,
// phrases, negation), over the same impact tiers as one-lexeme queries.
//
// The bound. For a document d and a query whose lexemes are L, write s_w(d)
// for the one-lexeme score of w (the sum of the weights of w's positions,
// what search_impacts tiers). ts_rank_cd sums, over the covers it finds,
// the harmonic mean of the cover's position weights divided by 1 + its
// noise. A harmonic mean is at most the arithmetic mean, and the covers
// ts_rank_cd finds have strictly increasing starts and ends, so the covers
// holding one position number at most the positions each of them holds:
// every position's weight is counted at most once in total. Hence
//
//	ts_rank_cd(d, q) <= sum over w in L of s_w(d)
//
// with equality for an OR of lexemes (every cover is one position), and
// divided by k for one phrase of k distinct lexemes (each occurrence of the
// phrase is one cover of k positions, and no position is in two). A word
// negated on its own in a query without OR is in no matching document and
// is left out of L; other negated words stay in it (a negated phrase keeps
// its words' positions in the covers). Proximity cannot be bounded per
// word, so for an AND the bound is loose; TestBoundHolds checks the bound
// against ts_rank_cd on generated documents of every shape.
//
// The search. Visit the tiers from the top as impactTop does, but a round
// takes the documents with a token of that tier for any lexeme of the query
// (and matching the whole query, filters and cursor). After the rounds down
// to tier T, a document not yet ranked has s_w < T for every w, and s_w is
// at most the highest tier any document of the collection reaches for w
// (probed once). So its score is at most B(T) = sum over w of
// min(T - 0.1, max_w), and when the k-th best score found is above B(T),
// nothing unvisited can enter the page: the page is exact. Otherwise the
// query is ranked exactly over every match (ranking "exact").

// StrategyBounded ranks a query of several lexemes through the impact tiers
// with the per-word bound (see keyword_bound.go); it falls back to exact.
const StrategyBounded Strategy = "bounded"

// maxBoundedLexemes is the most words a query ranked through the tiers may
// have: the bound sums over the words, so with many it proves little, and
// the probe and every round grow with them (a 1,000-character query can
// hold hundreds of words). Longer queries rank every match.
const maxBoundedLexemes = 8

// terms are the lexemes of a query ranked through the impact tiers; phrase
// says the query is one phrase of distinct lexemes and nothing else.
type terms struct {
	lexemes []string
	phrase  bool
	// conj says the query is an AND of two or more words outside any
	// phrase (negated words aside): its score depends on how near they
	// are, so the bound rarely proves a page and bounded ranking gives up
	// after its first round unless that round proves it.
	conj bool
}

// tsqueryTerms lists the distinct operands of a tsquery's text form, and
// whether it is one phrase of them ('a' <-> 'b' <2> 'c'). ok is false when
// an operand has a suffix (prefix :*, weights :AB) or the text is not
// understood: such a query is ranked exactly.
//
// Without OR, a word negated on its own (!'python', from -python) is in no
// matching document, so it adds nothing to any score: it is left out of
// the lexemes. Under an OR (a or -b) a matching document may hold it, and
// a negated phrase keeps its words' positions in the covers: those stay.
func tsqueryTerms(s string) (t terms, ok bool) {
	lexemes, ok := tsqueryLexemes(s)
	if !ok {
		return terms{}, false
	}
	if !strings.Contains(s, "|") {
		lexemes = slices.DeleteFunc(lexemes, func(w string) bool { return negatedOnly(s, w) })
		if len(lexemes) == 0 {
			return terms{}, false
		}
	}
	ops, phrase := 0, true
	for _, f := range strings.Fields(s) {
		if f[0] == '\'' {
			ops++
		} else if !phraseOp(f) {
			phrase = false
		}
	}
	t = terms{lexemes: lexemes, phrase: phrase && ops == len(lexemes) && ops > 1}
	t.conj = !t.phrase && len(lexemes) > 1 && !strings.ContainsAny(s, "|<")
	return t, true
}

// negatedOnly reports whether every occurrence of lexeme w in the tsquery
// text s is a lone negated operand, !'w'.
func negatedOnly(s, w string) bool {
	q := "'" + strings.NewReplacer("'", "''", `\`, `\\`).Replace(w) + "'"
	n, neg := strings.Count(s, q), strings.Count(s, "!"+q)
	return n > 0 && n == neg
}

// phraseOp reports whether f is a tsquery phrase operator, <-> or <N>.
func phraseOp(f string) bool {
	if f == "<->" {
		return true
	}
	if len(f) < 3 || f[0] != '<' || f[len(f)-1] != '>' {
		return false
	}
	_, err := strconv.Atoi(f[1 : len(f)-1])
	return err == nil
}

// tsqueryLexemes lists the distinct operands of a tsquery's text form; see
// tsqueryTerms.
func tsqueryLexemes(s string) (lexemes []string, ok bool) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'':
			var b strings.Builder
			j := i + 1
			closed := false
			for ; j < len(s); j++ {
				if s[j] == '\'' || s[j] == '\\' {
					if j+1 < len(s) && s[j+1] == s[j] {
						b.WriteByte(s[j])
						j++
						continue
					}
					if s[j] == '\'' {
						closed = true
						break
					}
					return nil, false
				}
				b.WriteByte(s[j])
			}
			if !closed || b.Len() == 0 || (j+1 < len(s) && s[j+1] == ':') {
				return nil, false
			}
			if !slices.Contains(lexemes, b.String()) {
				lexemes = append(lexemes, b.String())
			}
			i = j
		case strings.IndexByte(" &|!()<->0123456789", c) >= 0:
		default:
			return nil, false
		}
	}
	return lexemes, len(lexemes) > 0
}

// tierUpper is the highest score (tenths) a document with token tier t can
// have for that lexeme: just below the next tier up.
func tierUpper(t int) int {
	i := slices.Index(impactTiers, t)
	if i <= 0 {
		return impactTiers[0] // 256 positions of weight 1.0 at most
	}
	return impactTiers[i-1] - 1
}

// lexemeMax probes, for each lexeme, the highest tier that any document of
// the collection has a token of, as an upper bound of its score (tenths);
// 19 when it has none (every score below the lowest tier).
func (s *Service) lexemeMax(ctx context.Context, p *Plan, lexemes []string) ([]int, error) {
	a := &Args{}
	// Tiers are highest first; LIMIT 1 stops at the first that exists, so
	// common low tiers are not read when a higher one is populated.
	sql := "SELECT l.o, (SELECT t.t FROM unnest(" + a.Add(impactTiers) + "::int[]) AS t(t) WHERE EXISTS (" +
		"SELECT 1 FROM documents d WHERE d.collection_id = " + a.Add(p.CollectionID) + "::bigint" +
		" AND search_impacts(d.search) @> ARRAY[l.w || '#' || t.t]) LIMIT 1)" +
		" FROM unnest(" + a.Add(lexemes) + "::text[]) WITH ORDINALITY AS l(w, o)"
	rows, err := s.query(ctx, sql, a)
	if err != nil {
		return nil, fmt.Errorf("search: bounded ranking: probe: %w", pg.Interpret(err))
	}
	defer rows.Close()
	out := make([]int, len(lexemes))
	for rows.Next() {
		var o int64
		var t *int32
		if err := rows.Scan(&o, &t); err != nil {
			return nil, fmt.Errorf("search: bounded ranking: probe: %w", pg.Interpret(err))
		}
		out[o-1] = 19
		if t != nil {
			out[o-1] = tierUpper(int(*t))
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("search: bounded ranking: probe: %w", pg.Interpret(err))
	}
	return out, nil
}

// boundAt is B(T) in tenths: the highest score a document can have when it
// has no token of tier low or above for any lexeme (maxes from lexemeMax).
func boundAt(low int, maxes []int) int {
	b := 0
	for _, m := range maxes {
		b += min(low-1, m)
	}
	return b
}

// beats reports whether a normalised score (rank/(rank+1), float4) is
// surely above a raw bound in tenths divided by div, with a margin far
// wider than float4 rounding of either side.
func beats(score float32, boundTenths, div int) bool {
	r := float64(score)
	if r >= 1 {
		return true
	}
	raw := r / (1 - r)
	return float64(boundTenths)/10/float64(div)*(1+1e-4)+1e-6 < raw
}

// mergeTop merges hits into top (best first, by score then id), dropping
// ids already present, and keeps the best need.
func mergeTop(top, hits []impactHit, need int) []impactHit {
	for _, h := range hits {
		if !slices.ContainsFunc(top, func(x impactHit) bool { return x.id == h.id }) {
			top = append(top, h)
		}
	}
	slices.SortFunc(top, func(x, y impactHit) int {
		if x.score != y.score {
			if x.score > y.score {
				return -1
			}
			return 1
		}
		return cmpInt64(x.id, y.id)
	})
	return top[:min(len(top), need)]
}

func cmpInt64(x, y int64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// boundedTop returns the best need matches of p (after cursor c), best
// first, exactly as ranking every match would, or ok false when the bound
// cannot prove the page within the tiers (the caller ranks exactly).
func (s *Service) boundedTop(ctx context.Context, p *Plan, t terms, need int, c *cursor) (top []impactHit, ok bool, err error) {
	lexemes := t.lexemes
	// A phrase of k lexemes: every cover is one occurrence of the phrase,
	// k positions, each in no other cover, so the bound divides by k.
	div := 1
	if t.phrase {
		div = len(lexemes)
	}
	maxes, err := s.lexemeMax(ctx, p, lexemes)
	if err != nil {
		return nil, false, err
	}
	floor := boundAt(impactTiers[len(impactTiers)-1], maxes)
	rounds, lows := impactRounds("")
	for i, toks := range rounds {
		var tokens []string
		for j, w := range lexemes {
			for _, tok := range toks {
				tier, _ := strconv.Atoi(strings.TrimPrefix(tok, "#"))
				if tier <= maxes[j] {
					tokens = append(tokens, w+tok)
				}
			}
		}
		if len(tokens) > 0 {
			got, err := s.impactRound(ctx, p, c, "search_impacts(d.search) && $TOKENS::text[]", tokens, need)
			if err != nil {
				return nil, false, err
			}
			top = mergeTop(top, got, need)
		}
		if len(top) < need {
			if t.conj {
				return nil, false, nil
			}
			continue
		}
		if beats(top[need-1].score, boundAt(lows[i], maxes), div) {
			return top, true, nil
		}
		// Even the bound below the lowest tier does not prove the page:
		// going on would most likely rank most matches round by round, then
		// all of them again (typical of an AND of common words, whose
		// scores stay below the 1.9 per word a document has without a
		// token).
		if !beats(top[need-1].score, floor, div) {
			return nil, false, nil
		}
	}
	return nil, false, nil
}
