package search

// Hybrid search: reciprocal rank fusion (RRF, Cormack et al. 2009) of the
// keyword list and the semantic list.
//
//	score(d) = (1 - r) / (RRFK + rank_keyword(d)) + r / (RRFK + rank_semantic(d))
//
// with r = semantic_ratio and a term of 0 for a list that does not hold d.
// RRF uses ranks only, so keyword scores (ts_rank_cd, unbounded) and cosine
// similarities need no common scale. r = 0 is exactly the keyword list and
// r = 1 exactly the semantic list: the other list is not even computed, and
// documents only it holds (score 0) are not returned.

import (
	"context"
	"fmt"
	"sort"

	"github.com/geoseek/geoseek/internal/problem"
)

// RRFK is the rank constant of reciprocal rank fusion; 60 is the value of
// the original paper and of most engines since.
const RRFK = 60

// Fused is one hybrid hit with, for explain, its place in each list.
type Fused struct {
	ID    int64   `json:"id"`
	Rank  int     `json:"rank"`
	Score float64 `json:"score"`
	// Keyword and Semantic are the hit's rank and score in each list; nil
	// when the list does not hold it (or was not computed).
	Keyword  *Ranked `json:"keyword,omitempty"`
	Semantic *Ranked `json:"semantic,omitempty"`
}

// Fuse merges two ranked lists by weighted reciprocal rank fusion, best
// first (ties by id), dropping documents whose fused score is 0.
func Fuse(keyword, semantic []Ranked, ratio float64) []Fused {
	byID := make(map[int64]*Fused, len(keyword)+len(semantic))
	var out []*Fused
	get := func(id int64) *Fused {
		f, ok := byID[id]
		if !ok {
			f = &Fused{ID: id}
			byID[id] = f
			out = append(out, f)
		}
		return f
	}
	for i := range keyword {
		h := keyword[i]
		f := get(h.ID)
		if f.Keyword == nil {
			f.Keyword = &h
			f.Score += (1 - ratio) / float64(RRFK+h.Rank)
		}
	}
	for i := range semantic {
		h := semantic[i]
		f := get(h.ID)
		if f.Semantic == nil {
			f.Semantic = &h
			f.Score += ratio / float64(RRFK+h.Rank)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Score != out[j].Score {
			return out[i].Score > out[j].Score
		}
		return out[i].ID < out[j].ID
	})
	res := make([]Fused, 0, len(out))
	for _, f := range out {
		if f.Score <= 0 {
			continue
		}
		f.Rank = len(res) + 1
		res = append(res, *f)
	}
	return res
}

// KeywordRanker returns the keyword ranking of q (the same filter, the
// keyword mode's order), best first, at most depth hits, with 1-based ranks.
// The keyword search code provides it.
type KeywordRanker func(ctx context.Context, q *Query, depth int) ([]Ranked, error)

// HybridPlan says how a hybrid list was computed (for explain=true).
type HybridPlan struct {
	Ratio    float64       `json:"semantic_ratio"`
	RRFK     int           `json:"rrf_k"`
	Depth    int           `json:"depth"`
	Keyword  int           `json:"keyword_hits"`
	Semantic int           `json:"semantic_hits"`
	Plan     *SemanticPlan `json:"semantic_plan,omitempty"`
}

// HybridDepth is how deep each list is read to serve hits up to offset +
// limit: the fused top n can come from below n in either list, so each is
// read to twice that, at least 50, at most MaxSemanticDepth.
func HybridDepth(n int) int {
	return min(max(2*n, 50), MaxSemanticDepth)
}

// Hybrid ranks q by fusing keyword (when q.SemanticRatio < 1) and semantic
// (when q.SemanticRatio > 0) lists of depth hits each. With ratio 0 no
// vector is needed and pgvector may be absent; otherwise the errors are
// those of Nearest. A hybrid query needs q (the keyword side uses it; the
// semantic side embeds it unless a vector is given).
func (s *Semantic) Hybrid(ctx context.Context, q *Query, depth int, keyword KeywordRanker) ([]Fused, HybridPlan, error) {
	return s.hybrid(ctx, q, depth, keyword, vecCollection{})
}

func (s *Semantic) hybrid(ctx context.Context, q *Query, depth int, keyword KeywordRanker, known vecCollection) ([]Fused, HybridPlan, error) {
	plan := HybridPlan{Ratio: q.SemanticRatio, RRFK: RRFK, Depth: depth}
	if q.Text == "" && q.SemanticRatio < 1 {
		return nil, plan, problem.Invalid("q", "hybrid search needs q")
	}
	var kw, sem []Ranked
	if q.SemanticRatio > 0 {
		var (
			sp  SemanticPlan
			err error
		)
		if sem, sp, err = s.nearest(ctx, q, depth, known); err != nil {
			return nil, plan, err
		}
		plan.Plan = &sp
	}
	if q.SemanticRatio < 1 {
		var err error
		if kw, err = keyword(ctx, q, depth); err != nil {
			return nil, plan, fmt.Errorf("search: hybrid keyword list: %w", err)
		}
	}
	plan.Keyword, plan.Semantic = len(kw), len(sem)
	return Fuse(kw, sem, q.SemanticRatio), plan, nil
}
