package search

import (
	"context"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Pair ranking: exact top-k for a phrase of two or more different words
// with nothing between them, through the pair impact index (migration
// 00055), as impact ranking does for one word.
//
// Two words: the score is a pair sum. ts_rank_cd finds covers left to
// right: the first position where the query holds, then the latest start
// before it where it still holds; the next search starts just after that
// start. For a <-> b (a != b) the query holds on a window exactly when it
// has a at some p and b at p + 1, so every cover is one such occurrence:
// two entries, noise (q - p) - (end - begin) = 0, worth the harmonic mean
// of the two weights. Each occurrence is found once (covers have strictly
// increasing starts), so ts_rank_cd(RankWeights, search, a <-> b) is the
// sum over the document's occurrences of the pair, which
// search_pair_impacts computes exactly in integers and tiers.
// TestPairScoreIsPhraseRank checks this against ts_rank_cd on generated
// vectors of every weight.
//
// More words (a <-> b <-> c ..., all different): every cover is one
// occurrence of the whole phrase, k entries side by side, noise 0, worth
// the harmonic mean of its k weights; covers start at different
// positions, so each has its own occurrence of a <-> b at its start. In
// documents.search the weights never increase along the positions (the
// title, A = 1.0, comes before the body, B = 0.4), so a cover's first two
// weights are its heaviest, and the harmonic mean of k weights is at most
// that of the two heaviest. Hence the phrase scores at most the pair sum
// of its first two words, and the walk below, ranking each round's
// documents by the whole phrase, stays exact. TestPhraseBelowFirstPair
// checks the bound on documents of the table.
//
// The walk (pairTop). A document with a token scores at least its tier,
// one without scores below 1.8, so ranking the documents of the high tiers
// first and stopping when the page's last score is above every lower tier
// is exact; when fewer than a page reach 1.8, every match below 1.8 is
// ranked. Documents search_pair_impacts could not pair (two repeated
// lexemes at one position, as every word past the 16383rd is) carry the
// token #apart instead; the first round ranks them with the high tiers.
//
// A phrase with a gap (<2>, from a stop word inside the quotes) or a
// repeated word has covers with noise or of other shapes: it goes the
// bounded way (keyword_bound.go).

// StrategyPair ranks a phrase of different lexemes side by side through
// the pair impact tiers of its first two (keyword_pair.go).
const StrategyPair Strategy = "pair"

// PairMin is the estimated match count above which a phrase is ranked
// through the pair tiers. Below it ranking every match is cheap. It is low
// because the planner's estimate of a phrase of words that go together
// runs 10-40 times under the truth ("command line tool": 1,978 for
// 21,488; "ham radio": 18 for 735), and an underestimated phrase ranked
// exactly costs what its matches cost, while the tiers' last round costs
// about what ranking every match does (docs/performance.md).
const PairMin = 200

// pairTiers are search_pair_impacts' tiers in tenths, highest first; they
// must match migration 00055.
var pairTiers = []int{160, 120, 100, 80, 60, 50, 40, 30, 25, 20, 18}

// pairFirstRound is the lowest tier of the first round: the tiers from 2.0
// up are ranked together, then the 1.8 tier. Pair tokens are sparse (at
// most a few hundred documents per pair at 100,000 documents), so two
// rounds beat one statement per tier that each rank a handful.
const pairFirstRound = 20

// pairRest is the raw ts_rank_cd below which a document has no pair token:
// pair scores are whole multiples of 1/46200, so the highest below 1.8 is
// 1.799978, and float4 rounding (1e-7 here) keeps both sides of 1.79999.
const pairRest = "1.79999"

// pairApart is the token of a document search_pair_impacts does not pair.
const pairApart = "#apart"

// pairToken is search_pair_impacts' token for the pair a b at tier t: the
// length of a in characters makes the concatenation unambiguous.
func pairToken(a, b string, t int) string {
	return strconv.Itoa(utf8.RuneCountInString(a)) + ":" + a + b + "#" + strconv.Itoa(t)
}

// pairPhrase reports whether the tsquery text s is exactly a phrase of
// two or more different lexemes with nothing between them, 'a' <-> 'b'
// <-> 'c', given its terms (distinct, in the order of the text).
func pairPhrase(s string, t terms) bool {
	if !t.phrase || len(t.lexemes) < 2 {
		return false
	}
	q := make([]string, len(t.lexemes))
	for i, w := range t.lexemes {
		q[i] = quoteLexeme(w)
	}
	return s == strings.Join(q, " <-> ")
}

// pairTop returns the best need matches of p's phrase, which starts with
// a <-> b, after cursor c, best first, exactly as ranking every match
// would.
//
// Two rounds: the tiers from 2.0 up together with the documents set apart,
// then the 1.8 tier, each ranking at most need documents. After a round,
// every document not yet ranked that is not set apart scores below the
// round's low (the apart ones were all ranked in the first round, and any
// not returned there is outranked by need documents), so the page is
// proven when its need-th raw score is above the highest score below that
// low (2.0 or 1.8 less 1/46200). Otherwise every match below 1.8 is ranked.
func (s *Service) pairTop(ctx context.Context, p *Plan, a, b string, need int, c *cursor) ([]impactHit, error) {
	const cond = "search_pair_impacts(d.search) && $TOKENS::text[]"
	first := []string{pairApart}
	for _, t := range pairTiers {
		if t >= pairFirstRound {
			first = append(first, pairToken(a, b, t))
		}
	}
	var top []impactHit
	for _, r := range []struct {
		toks  []string
		below float64 // the highest raw score a document below the round's low can have, rounded up
	}{{first, 1.99999}, {[]string{pairToken(a, b, 18)}, 1.79999}} {
		got, err := s.impactRound(ctx, p, c, cond, r.toks, need)
		if err != nil {
			return nil, err
		}
		if top = mergeTop(top, got, need); len(top) == need && rawScore(top[need-1].score) > r.below {
			return top, nil
		}
	}
	rest, err := s.impactRound(ctx, p, c, "ts_rank_cd("+RankWeights+", d.search, $TSQ) < "+pairRest, nil, need)
	if err != nil {
		return nil, err
	}
	return mergeTop(top, rest, need), nil
}

// rawScore is the raw ts_rank_cd of a normalised score rank/(rank+1).
func rawScore(score float32) float64 {
	if score >= 1 {
		return math.Inf(1)
	}
	return float64(score) / (1 - float64(score))
}

// PairTiers returns the pair impact tiers in tenths, highest first (for
// tests that check migration 00055 against them).
func PairTiers() []int { return append([]int(nil), pairTiers...) }

// PairToken is search_pair_impacts' token for the pair a b at tier t (for
// tests).
func PairToken(a, b string, t int) string { return pairToken(a, b, t) }
