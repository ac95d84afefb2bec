package search

import (
	"context"
	"strconv"
	"unicode/utf8"
)

// Pair ranking: exact top-k for a phrase of two different words, through
// the pair impact index (migration 00055), as impact ranking does for one.
//
// The score is a pair sum. ts_rank_cd finds covers left to right: the
// first position where the query holds, then the latest start before it
// where it still holds; the next search starts just after that start. For
// a <-> b (a != b) the query holds on a window exactly when it has a at
// some p and b at p + 1, so every cover is one such occurrence: two
// entries, noise (q - p) - (end - begin) = 0, worth the harmonic mean of
// the two weights. Each occurrence is found once (covers have strictly
// increasing starts), so ts_rank_cd(RankWeights, search, a <-> b) is the
// sum over the document's occurrences of the pair, which
// search_pair_impacts computes exactly in integers and tiers.
// TestPairScoreIsPhraseRank checks this against ts_rank_cd on generated
// vectors of every weight.
//
// The walk. Tiers are disjoint score ranges, so the walk of tierTop is
// exact: a round's documents outrank every later round's. A document with
// no pair token scores below 1.8 and is ranked, with every match below
// 1.8, only when fewer than a page reach it. Documents search_pair_impacts
// could not pair (two repeated lexemes at one position, as every word past
// the 16383rd is) carry the token #apart instead; they are ranked apart,
// exactly, and merged into the page.
//
// A phrase of more words, or with a gap (<2>, from a stop word inside the
// quotes), has covers of more entries or with noise: it goes the bounded
// way (keyword_bound.go).

// StrategyPair ranks a phrase of two different lexemes through the pair
// impact tiers (keyword_pair.go).
const StrategyPair Strategy = "pair"

// PairMin is the estimated match count above which a two-word phrase is
// ranked through the pair tiers. Below it ranking every match is cheap;
// above it the few rounds cost less than reading every match.
const PairMin = 2_000

// pairTiers are search_pair_impacts' tiers in tenths, highest first; they
// must match migration 00055.
var pairTiers = []int{160, 120, 100, 80, 60, 50, 40, 30, 25, 20, 18}

// pairFirstRound is the lowest tier of the first round: the tiers from 2.0
// up are ranked together, then the 1.8 tier. Pair tokens are sparse (tens
// to hundreds of documents per common pair at 100,000 documents), so two
// rounds beat five statements that each rank a handful.
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

// pairPhrase reports whether the tsquery text s is exactly a phrase of two
// different lexemes with nothing between them, 'a' <-> 'b', given its terms.
func pairPhrase(s string, t terms) bool {
	return t.phrase && len(t.lexemes) == 2 && s == quoteLexeme(t.lexemes[0])+" <-> "+quoteLexeme(t.lexemes[1])
}

// pairTop returns the best need matches of the phrase a <-> b (p's query)
// after cursor c, best first, exactly as ranking every match would.
func (s *Service) pairTop(ctx context.Context, p *Plan, a, b string, need int, c *cursor) ([]impactHit, error) {
	const index = "search_pair_impacts(d.search)"
	apart, err := s.impactRound(ctx, p, c, index+" && $TOKENS::text[]", []string{pairApart}, need)
	if err != nil {
		return nil, err
	}
	rounds, lows := tierRounds(func(t int) string { return pairToken(a, b, t) }, pairTiers, pairFirstRound)
	top, err := s.tierTop(ctx, p, tierWalk{index: index, rounds: rounds, lows: lows, rest: pairRest}, need, c)
	if err != nil {
		return nil, err
	}
	return mergeTop(top, apart, need), nil
}

// PairTiers returns the pair impact tiers in tenths, highest first (for
// tests that check migration 00055 against them).
func PairTiers() []int { return append([]int(nil), pairTiers...) }

// PairToken is search_pair_impacts' token for the pair a b at tier t (for
// tests).
func PairToken(a, b string, t int) string { return pairToken(a, b, t) }
