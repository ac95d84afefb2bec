package search

import (
	"context"
	"slices"
	"testing"
)

func TestFuse(t *testing.T) {
	t.Parallel()
	kw := []Ranked{{ID: 1, Rank: 1, Score: 0.9}, {ID: 2, Rank: 2, Score: 0.5}, {ID: 3, Rank: 3, Score: 0.1}}
	sem := []Ranked{{ID: 3, Rank: 1, Score: 0.99}, {ID: 4, Rank: 2, Score: 0.8}, {ID: 1, Rank: 3, Score: 0.7}}
	fusedIDs := func(fs []Fused) []int64 {
		out := make([]int64, len(fs))
		for i, f := range fs {
			out[i] = f.ID
		}
		return out
	}
	if got := fusedIDs(Fuse(kw, sem, 0)); !slices.Equal(got, []int64{1, 2, 3}) {
		t.Errorf("ratio 0: %v, want the keyword list", got)
	}
	if got := fusedIDs(Fuse(kw, sem, 1)); !slices.Equal(got, []int64{3, 4, 1}) {
		t.Errorf("ratio 1: %v, want the semantic list", got)
	}
	// ratio 0.5: 1 = 1/61 + 1/63, 3 = 1/63 + 1/61 (tie, id order), 2 = 1/62, 4 = 1/62.
	got := Fuse(kw, sem, 0.5)
	if ids := fusedIDs(got); !slices.Equal(ids, []int64{1, 3, 2, 4}) {
		t.Errorf("ratio 0.5: %v", ids)
	}
	for i, f := range got {
		if f.Rank != i+1 {
			t.Errorf("rank %d at %d", f.Rank, i)
		}
	}
	if got[0].Keyword == nil || got[0].Keyword.Rank != 1 || got[0].Semantic == nil || got[0].Semantic.Rank != 3 {
		t.Errorf("explain of id 1: %+v %+v", got[0].Keyword, got[0].Semantic)
	}
	if got[2].Semantic != nil || got[3].Keyword != nil {
		t.Error("a list that does not hold a hit must show nil")
	}
	// Mostly semantic: the semantic top hit wins.
	if ids := fusedIDs(Fuse(kw, sem, 0.9)); ids[0] != 3 {
		t.Errorf("ratio 0.9: %v", ids)
	}
}

func TestHybridRatioEndsEqualSingleLists(t *testing.T) {
	t.Parallel()
	f := newVecFixture(t, 500, 16, SemanticConfig{})
	ctx := context.Background()
	v := f.point()
	q := f.query(v, Tags{Op: TagsAll, Values: []string{"p10"}}, 10)
	q.Mode, q.Text = ModeHybrid, "doc"
	// The keyword side: a real ranking from the same table (title order by
	// id), standing in for the keyword ranker of keyword search.
	keyword := func(ctx context.Context, q *Query, depth int) ([]Ranked, error) {
		a := &Args{}
		rows, err := f.db.Pool.Query(ctx, `SELECT d.id FROM documents d WHERE d.collection_id = `+a.Add(f.cid)+
			` AND `+q.Filter.Compile(a)+` ORDER BY d.id DESC LIMIT `+a.Add(depth), a.Values()...)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out []Ranked
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return nil, err
			}
			out = append(out, Ranked{ID: id, Rank: len(out) + 1, Score: 1 / float64(len(out)+1)})
		}
		return out, rows.Err()
	}
	depth := HybridDepth(10)
	kw, err := keyword(ctx, q, depth)
	if err != nil {
		t.Fatal(err)
	}
	sem, _, err := f.sem.Nearest(ctx, q, depth)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ratio float64
		want  []Ranked
	}{{0, kw}, {1, sem}} {
		q.SemanticRatio = c.ratio
		got, plan, err := f.sem.Hybrid(ctx, q, depth, keyword)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(fusedIDsOf(got), ids(c.want)) {
			t.Errorf("ratio %v: %v, want %v", c.ratio, fusedIDsOf(got), ids(c.want))
		}
		if (c.ratio == 0) != (plan.Plan == nil) {
			t.Errorf("ratio %v: semantic plan %+v", c.ratio, plan.Plan)
		}
	}
	q.SemanticRatio = 0.5
	got, plan, err := f.sem.Hybrid(ctx, q, depth, keyword)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Keyword != len(kw) || plan.Semantic != len(sem) || len(got) < len(kw) {
		t.Errorf("plan %+v, %d fused", plan, len(got))
	}
}

func fusedIDsOf(fs []Fused) []int64 {
	out := make([]int64, len(fs))
	for i, f := range fs {
		out[i] = f.ID
	}
	return out
}
