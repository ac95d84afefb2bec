package search

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/pgvector/pgvector-go"

	embedder "github.com/geoseek/geoseek/embed"
	"github.com/geoseek/geoseek/internal/pgtest"
	"github.com/geoseek/geoseek/internal/problem"
)

// vecFixture is a collection "vecs" of n clustered vectors of dim
// dimensions. Document i has tag "p01" when i%1000 == 0 (0.1%), "p1" when
// i%100 == 0 (1%) and "p10" when i%10 == 0 (10%); tags are independent of
// the clusters, as real filters are.
type vecFixture struct {
	db   *pgtest.DB
	sem  *Semantic
	cid  int64
	dim  int
	rng  *rand.Rand
	ctrs [][]float32
}

func newVecFixture(t *testing.T, n, dim int, cfg SemanticConfig) *vecFixture {
	t.Helper()
	pgtest.RequireVector(t)
	f := &vecFixture{db: pgtest.New(t), dim: dim, rng: rand.New(rand.NewPCG(uint64(n), uint64(dim)))}
	ctx := context.Background()
	set, err := embedder.NewSet(embedder.Config{})
	if err != nil {
		t.Fatal(err)
	}
	f.sem = NewSemantic(f.db.Pool, set, cfg)
	if err := f.db.Pool.QueryRow(ctx, `INSERT INTO collections (name, default_lang, embedding_dim) VALUES ('vecs', 'english', $1) RETURNING id`, dim).Scan(&f.cid); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		f.ctrs = append(f.ctrs, f.randVec(nil, 1))
	}
	rows := make([][]any, n)
	for i := range rows {
		var tags []string
		for _, m := range []struct {
			mod int
			tag string
		}{{1000, "p01"}, {100, "p1"}, {10, "p10"}} {
			if i%m.mod == 0 {
				tags = append(tags, m.tag)
			}
		}
		if tags == nil {
			tags = []string{}
		}
		rows[i] = []any{f.cid, fmt.Sprintf("doc %d", i), tags, pgvector.NewVector(f.point())}
	}
	// Building the HNSW index once after the load is much faster than
	// inserting into it row by row.
	var idx string
	if err := f.db.Pool.QueryRow(ctx, `SELECT geoseek_embedding_index_name($1, $2)`, f.cid, dim).Scan(&idx); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.Pool.Exec(ctx, `DROP INDEX `+pgx.Identifier{idx}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.Pool.CopyFrom(ctx, pgx.Identifier{"documents"}, []string{"collection_id", "title", "tags", "embedding"}, pgx.CopyFromRows(rows)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.Pool.Exec(ctx, `SELECT geoseek_ensure_embedding_index($1)`, f.cid); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.Pool.Exec(ctx, `ANALYZE documents`); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *vecFixture) randVec(center []float32, scale float64) []float32 {
	v := make([]float32, f.dim)
	for i := range v {
		v[i] = float32(f.rng.NormFloat64() * scale)
		if center != nil {
			v[i] += center[i]
		}
	}
	return v
}

// point is a vector near a random cluster centre.
func (f *vecFixture) point() []float32 {
	return f.randVec(f.ctrs[f.rng.IntN(len(f.ctrs))], 0.35)
}

func (f *vecFixture) query(v []float32, filter Filter, limit int) *Query {
	q := defaults()
	q.Collection, q.Mode, q.Vector, q.Filter, q.Limit = "vecs", ModeSemantic, v, filter, limit
	return &q
}

func ids(hs []Ranked) []int64 {
	out := make([]int64, len(hs))
	for i, h := range hs {
		out[i] = h.ID
	}
	return out
}

func TestSemanticEqualsExactOnSmallSet(t *testing.T) {
	t.Parallel()
	f := newVecFixture(t, 300, 16, SemanticConfig{DefaultEfSearch: 400})
	ctx := context.Background()
	for i := range 5 {
		v := f.point()
		got, plan, err := f.sem.Nearest(ctx, f.query(v, nil, 10), 10)
		if err != nil {
			t.Fatal(err)
		}
		if plan.Strategy != PlanHNSW || plan.EfSearch != 400 {
			t.Errorf("plan %+v, want hnsw with ef_search 400", plan)
		}
		want, err := f.sem.exactNearest(ctx, KNN{CollectionID: f.cid, Dim: f.dim, Vector: v, Depth: 10})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids(got), ids(want)) {
			t.Errorf("query %d: hnsw %v, exact %v", i, ids(got), ids(want))
		}
		// The similarity is the cosine similarity, computed here too.
		for _, h := range got[:1] {
			var dist float64
			if err := f.db.Pool.QueryRow(ctx, `SELECT embedding <=> $1 FROM documents WHERE id = $2`, pgvector.NewVector(v), h.ID).Scan(&dist); err != nil {
				t.Fatal(err)
			}
			if math.Abs(h.Score-(1-dist)) > 1e-6 {
				t.Errorf("score %v, want 1 - %v", h.Score, dist)
			}
		}
	}
}

// TestFilteredRecall checks filtered kNN at 0.1%, 1%, 10% and 100%
// selectivity with each plan: `limit` hits and mean recall@10 >= 0.95
// against an exact scan of the filtered rows.
func TestFilteredRecall(t *testing.T) {
	t.Parallel()
	f := newVecFixture(t, 10000, 32, SemanticConfig{})
	ctx := context.Background()
	queries := make([][]float32, 10)
	for i := range queries {
		queries[i] = f.point()
	}
	filters := map[string]Filter{
		"0.1%": Tags{Op: TagsAll, Values: []string{"p01"}},
		"1%":   Tags{Op: TagsAll, Values: []string{"p1"}},
		"10%":  Tags{Op: TagsAll, Values: []string{"p10"}},
		"100%": nil,
	}
	// The planner's choice with the default threshold, an iterative scan
	// wherever the estimate allows one (threshold 5 rows), and every plan
	// forced.
	sems := map[string]*Semantic{
		"auto":      f.sem,
		"iterative": NewSemantic(f.db.Pool, f.sem.set, SemanticConfig{ExactMaxRows: 5, MinIterativeSelectivity: 1e-9}),
	}
	for name, filter := range filters {
		for sname, sem := range sems {
			for _, force := range []string{"", PlanExact, PlanIterative} {
				if force != "" && sname != "auto" {
					continue
				}
				t.Run(fmt.Sprintf("%s/%s/%s", name, sname, force), func(t *testing.T) {
					var sum float64
					for _, v := range queries {
						k := KNN{CollectionID: f.cid, Dim: f.dim, Vector: v, Filter: filter, Depth: 10, Force: force}
						got, plan, err := sem.KNN(ctx, k)
						if err != nil {
							t.Fatal(err)
						}
						if len(got) != 10 {
							t.Fatalf("%d hits, want 10 (plan %+v)", len(got), plan)
						}
						want, err := sem.exactNearest(ctx, k)
						if err != nil {
							t.Fatal(err)
						}
						sum += Recall(got, want)
						for i := 1; i < len(got); i++ {
							if got[i].Score > got[i-1].Score {
								t.Fatalf("hits out of order at %d", i)
							}
						}
					}
					if r := sum / float64(len(queries)); r < 0.95 {
						t.Errorf("recall@10 %.3f < 0.95", r)
					}
				})
			}
		}
	}
	// The plans PostgreSQL makes for these statements, after more than five
	// runs of the same statement text (when it may switch to a generic
	// plan): HNSW uses the collection's partial index, exact does not. (At
	// this small size and a large ef_search the planner rightly prefers an
	// exact scan even for the iterative statement, so ef_search is low here:
	// the check is that the statement can use the index at all.)
	idx := fmt.Sprintf("documents_embedding_c%d_d%d_idx", f.cid, f.dim)
	lowEf := NewSemantic(f.db.Pool, f.sem.set, SemanticConfig{DefaultEfSearch: 40, IterativeEfSearch: 40})
	for _, c := range []struct {
		strategy string
		filter   Filter
		wantIdx  bool
	}{{PlanHNSW, nil, true}, {PlanIterative, filters["10%"], true}, {PlanExact, filters["1%"], false}} {
		k := KNN{CollectionID: f.cid, Dim: f.dim, Vector: queries[0], Filter: c.filter, Depth: 10, Force: c.strategy}
		for range 7 {
			if _, _, err := lowEf.KNN(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
		plan, err := lowEf.explain(ctx, k, c.strategy)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(plan, idx) != c.wantIdx {
			t.Errorf("%s: plan uses %s: %v, want %v\n%s", c.strategy, idx, !c.wantIdx, c.wantIdx, plan)
		}
	}

	// The automatic choice: exact for the selective filters, HNSW without.
	_, plan, err := f.sem.KNN(ctx, KNN{CollectionID: f.cid, Dim: f.dim, Vector: queries[0], Filter: filters["1%"], Depth: 10})
	if err != nil || plan.Strategy != PlanExact || plan.EstimatedRows < 10 || plan.EstimatedRows > 1000 {
		t.Errorf("1%% filter: plan %+v %v, want exact with an estimate near 100", plan, err)
	}
	_, plan, err = sems["iterative"].KNN(ctx, KNN{CollectionID: f.cid, Dim: f.dim, Vector: queries[0], Filter: filters["10%"], Depth: 10})
	if err != nil || plan.Strategy != PlanIterative || plan.EfSearch < 400 {
		t.Errorf("10%% filter, low threshold: plan %+v %v, want iterative", plan, err)
	}
	// Few rows by count is not the only reason for exact: a share of the
	// collection below MinIterativeSelectivity (5%) is searched exactly too.
	bySel := NewSemantic(f.db.Pool, f.sem.set, SemanticConfig{ExactMaxRows: 5})
	for name, want := range map[string]string{"1%": PlanExact, "10%": PlanIterative} {
		_, plan, err = bySel.KNN(ctx, KNN{CollectionID: f.cid, Dim: f.dim, Vector: queries[0], Filter: filters[name], Depth: 10})
		if err != nil || plan.Strategy != want {
			t.Errorf("%s filter, threshold 5 rows: plan %+v %v, want %s", name, plan, err, want)
		}
	}
}

func TestIterativeFallsBackToExact(t *testing.T) {
	t.Parallel()
	f := newVecFixture(t, 2000, 16, SemanticConfig{ExactMaxRows: 1, MinIterativeSelectivity: 1e-9})
	ctx := context.Background()
	// 2 rows match, estimated above the threshold of 1: the iterative scan
	// cannot return 10, so the query is repeated exactly, which returns
	// every matching row.
	k := KNN{CollectionID: f.cid, Dim: f.dim, Vector: f.point(), Filter: Tags{Op: TagsAll, Values: []string{"p01"}}, Depth: 10}
	got, plan, err := f.sem.KNN(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || plan.Strategy != PlanExact || !plan.Fallback {
		t.Errorf("%d hits, plan %+v; want 2 from an exact fallback", len(got), plan)
	}
}

func TestSemanticMinSimilarityAndDepth(t *testing.T) {
	t.Parallel()
	f := newVecFixture(t, 300, 16, SemanticConfig{})
	ctx := context.Background()
	v := f.point()
	q := f.query(v, nil, 50)
	all, _, err := f.sem.Nearest(ctx, q, 50)
	if err != nil {
		t.Fatal(err)
	}
	cut := all[20].Score
	q.MinSimilarity = &cut
	some, _, err := f.sem.Nearest(ctx, q, 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(some) < 21 || len(some) >= 50 {
		t.Errorf("min_similarity %.3f kept %d of 50", cut, len(some))
	}
	for _, h := range some {
		if h.Score < cut {
			t.Errorf("hit with similarity %.3f < %.3f", h.Score, cut)
		}
	}
	if _, _, err := f.sem.Nearest(ctx, q, MaxSemanticDepth+1); !isValidation(err) {
		t.Errorf("depth beyond max: %v", err)
	}
}

func isValidation(err error) bool {
	var ve *problem.ValidationError
	return errors.As(err, &ve)
}

func status(err error) int {
	d, _ := problem.From(err)
	return d.Status
}

func TestSemanticBadInput(t *testing.T) {
	t.Parallel()
	f := newVecFixture(t, 20, 8, SemanticConfig{})
	ctx := context.Background()
	nan := float32(math.NaN())
	cases := map[string]*Query{
		"wrong dimension": f.query([]float32{1, 2, 3}, nil, 10),
		"NaN":             f.query([]float32{1, nan, 0, 0, 0, 0, 0, 0}, nil, 10),
		"Inf":             f.query([]float32{1, float32(math.Inf(-1)), 0, 0, 0, 0, 0, 0}, nil, 10),
		"zero":            f.query(make([]float32, 8), nil, 10),
		"no q, no vector": f.query(nil, nil, 10),
	}
	punct := f.query(nil, nil, 10)
	punct.Text = "?!"
	cases["nothing to embed"] = punct
	for name, q := range cases {
		if _, _, err := f.sem.Nearest(ctx, q, 10); status(err) != http.StatusBadRequest {
			t.Errorf("%s: want 400, got %d (%v)", name, status(err), err)
		}
	}
	unknown := f.query(make([]float32, 8), nil, 10)
	unknown.Collection = "nope"
	if _, _, err := f.sem.Nearest(ctx, unknown, 10); status(err) != http.StatusNotFound {
		t.Errorf("unknown collection: %v", err)
	}
	if _, err := f.db.Pool.Exec(ctx, `INSERT INTO collections (name) VALUES ('novec')`); err != nil {
		t.Fatal(err)
	}
	nv := f.query([]float32{1}, nil, 10)
	nv.Collection = "novec"
	if _, _, err := f.sem.Nearest(ctx, nv, 10); status(err) != http.StatusBadRequest {
		t.Errorf("collection without dimension: %v", err)
	}
}

func TestSemanticWithoutPgvector(t *testing.T) {
	t.Parallel()
	f := newVecFixture(t, 20, 8, SemanticConfig{})
	ctx := context.Background()
	if _, _, err := f.sem.Nearest(ctx, f.query(f.point(), nil, 10), 10); err != nil {
		t.Fatal(err)
	}
	// This test's own database loses the extension, as on a server
	// without pgvector.
	if _, err := f.db.Pool.Exec(ctx, `DROP EXTENSION vector CASCADE`); err != nil {
		t.Fatal(err)
	}
	q := f.query([]float32{1, 0, 0, 0, 0, 0, 0, 0}, nil, 10)
	// f.sem saw pgvector before it went away; a new Semantic never did.
	for name, sem := range map[string]*Semantic{"running": f.sem, "new": NewSemantic(f.db.Pool, f.sem.set, SemanticConfig{})} {
		_, _, err := sem.Nearest(ctx, q, 10)
		if !errors.Is(err, problem.ErrExtensionMissing) || status(err) != http.StatusServiceUnavailable {
			t.Fatalf("%s: want 503 extension missing, got %v", name, err)
		}
	}
	sem := f.sem
	// Hybrid with ratio 0 needs no vectors and still works.
	q.Mode, q.Text, q.SemanticRatio = ModeHybrid, "doc", 0
	kw := []Ranked{{ID: 7, Rank: 1, Score: 0.5}}
	got, _, err := sem.Hybrid(ctx, q, 10, func(context.Context, *Query, int) ([]Ranked, error) { return kw, nil })
	if err != nil || len(got) != 1 || got[0].ID != 7 {
		t.Errorf("hybrid ratio 0 without pgvector: %v %v", got, err)
	}
	q.SemanticRatio = 0.5
	if _, _, err := sem.Hybrid(ctx, q, 10, func(context.Context, *Query, int) ([]Ranked, error) { return kw, nil }); status(err) != http.StatusServiceUnavailable {
		t.Errorf("hybrid ratio 0.5 without pgvector: %v", err)
	}
}

func TestSemanticText(t *testing.T) {
	t.Parallel()
	pgtest.RequireVector(t)
	db := pgtest.New(t)
	ctx := context.Background()
	set, _ := embedder.NewSet(embedder.Config{})
	sem := NewSemantic(db.Pool, set, SemanticConfig{})
	var cid int64
	if err := db.Pool.QueryRow(ctx, `INSERT INTO collections (name, default_lang, embedding_dim) VALUES ('pkgs', 'english', 384) RETURNING id`).Scan(&cid); err != nil {
		t.Fatal(err)
	}
	texts := [][2]string{
		{"postgresql-15", "The world's most advanced open source relational database"},
		{"gimp", "GNU Image Manipulation Program"},
		{"nginx", "small, powerful, scalable web/proxy server"},
		{"python3-psycopg2", "Python module for PostgreSQL databases"},
	}
	var docIDs []int64
	for _, tx := range texts {
		var id int64
		if err := db.Pool.QueryRow(ctx, `INSERT INTO documents (collection_id, title, body) VALUES ($1, $2, $3) RETURNING id`, cid, tx[0], tx[1]).Scan(&id); err != nil {
			t.Fatal(err)
		}
		docIDs = append(docIDs, id)
	}
	if _, err := embedder.EmbedDocuments(ctx, db.Pool, set, docIDs); err != nil {
		t.Fatal(err)
	}
	q := defaults()
	q.Collection, q.Mode, q.Text = "pkgs", ModeSemantic, "PostgreSQL database"
	hits, plan, err := sem.Nearest(ctx, &q, 4)
	if err != nil {
		t.Fatal(err)
	}
	if !plan.Embedded || plan.Model != embedder.OfflineModel {
		t.Errorf("plan %+v", plan)
	}
	if len(hits) != 4 || (hits[0].ID != docIDs[0] && hits[0].ID != docIDs[3]) || hits[3].ID == docIDs[0] {
		t.Errorf("hits %+v, want the PostgreSQL packages first", hits)
	}
}

func TestRecall(t *testing.T) {
	t.Parallel()
	want := []Ranked{{ID: 1}, {ID: 2}, {ID: 3}, {ID: 4}}
	if r := Recall([]Ranked{{ID: 2}, {ID: 9}, {ID: 1}}, want); r != 0.5 {
		t.Errorf("recall %v", r)
	}
	if Recall(nil, nil) != 1 {
		t.Error("empty want")
	}
}

func TestSemanticHalfvecStorage(t *testing.T) {
	t.Parallel()
	f := newVecFixture(t, 300, 16, SemanticConfig{DefaultEfSearch: 400})
	ctx := context.Background()
	if _, err := f.db.Pool.Exec(ctx, `UPDATE collections SET embedding_storage = 'halfvec' WHERE id = $1`, f.cid); err != nil {
		t.Fatal(err)
	}
	sem := NewSemantic(f.db.Pool, f.sem.set, SemanticConfig{DefaultEfSearch: 400})
	var sum float64
	for range 5 {
		v := f.point()
		got, plan, err := sem.Nearest(ctx, f.query(v, nil, 10), 10)
		if err != nil {
			t.Fatal(err)
		}
		if plan.Strategy != PlanHNSW || len(got) != 10 {
			t.Fatalf("plan %+v, %d hits", plan, len(got))
		}
		want, err := sem.exactNearest(ctx, KNN{CollectionID: f.cid, Dim: f.dim, Vector: v, Depth: 10})
		if err != nil {
			t.Fatal(err)
		}
		sum += Recall(got, want)
		// Half precision: similarities agree to about three digits.
		if math.Abs(got[0].Score-want[0].Score) > 5e-3 {
			t.Errorf("top similarity %v (halfvec) vs %v (exact)", got[0].Score, want[0].Score)
		}
	}
	if r := sum / 5; r < 0.9 {
		t.Errorf("recall@10 %.3f with halfvec", r)
	}
	big := make([]float32, f.dim)
	big[0] = 1e6
	if _, _, err := sem.Nearest(ctx, f.query(big, nil, 10), 10); !isValidation(err) {
		t.Errorf("element beyond half precision: want 400, got %v", err)
	}
	sql, _ := SemanticSQL(KNN{CollectionID: f.cid, Dim: f.dim, Vector: big, Depth: 10, Storage: StorageHalfvec}, PlanHNSW)
	if !strings.Contains(sql, "d.embedding::halfvec(16) <=> ") {
		t.Errorf("halfvec SQL does not use the index expression: %s", sql)
	}
}

// TestSemanticPageEqualsRankThenFetch checks that semantic pages, fetched
// with their kNN in one statement, equal the ranked list fetched by id (the
// path hybrid search takes) for every plan, page, filter and option.
func TestSemanticPageEqualsRankThenFetch(t *testing.T) {
	t.Parallel()
	f := newVecFixture(t, 3000, 16, SemanticConfig{ExactMaxRows: 100, MinIterativeSelectivity: 0.01})
	ctx := context.Background()
	// Some documents with every optional column, and one zero vector.
	if _, err := f.db.Pool.Exec(ctx, `
		UPDATE documents SET external_id = 'x' || id, props = jsonb_build_object('n', id),
		       geom = ST_SetSRID(ST_MakePoint(id % 90, id % 45), 4326),
		       period = tstzrange('2020-01-01', NULL, '[)')
		 WHERE collection_id = $1 AND id % 3 = 0`, f.cid); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.Pool.Exec(ctx, `UPDATE documents SET embedding = array_fill(0, ARRAY[16])::vector
		WHERE id = (SELECT min(id) FROM documents WHERE collection_id = $1 AND 'p10' = ANY(tags))`, f.cid); err != nil {
		t.Fatal(err)
	}
	svc := NewService(f.db.Pool, Config{Semantic: f.sem})
	plans := map[string]bool{}
	for _, c := range []struct {
		name   string
		filter Filter
	}{{"none", nil}, {"0.1%", Tags{Op: TagsAll, Values: []string{"p01"}}}, {"10%", Tags{Op: TagsAll, Values: []string{"p10"}}}} {
		for _, offset := range []int{0, 5, 40} {
			for _, opt := range []string{"", "explain", "min_similarity", "point"} {
				t.Run(fmt.Sprintf("%s/%d/%s", c.name, offset, opt), func(t *testing.T) {
					v := f.point()
					q := f.query(v, c.filter, 5)
					switch opt {
					case "explain":
						q.Explain = true
					case "point":
						q.Point = &[2]float64{10, 20}
					case "min_similarity":
						all, _, err := f.sem.Nearest(ctx, q, 50)
						if err != nil {
							t.Fatal(err)
						}
						cut := all[min(len(all)-1, offset+2)].Score
						q.MinSimilarity = &cut
					}
					p, err := svc.Prepare(ctx, q)
					if err != nil {
						t.Fatal(err)
					}
					depth := offset + q.Limit + 1
					got, err := svc.semanticPage(ctx, f.sem, p, offset, depth)
					if err != nil {
						t.Fatal(err)
					}
					hits, plan, err := f.sem.nearest(ctx, q, depth, knownCollection(p))
					if err != nil {
						t.Fatal(err)
					}
					plans[plan.Strategy] = true
					all := make([]rankedHit, len(hits))
					for i, h := range hits {
						all[i] = rankedHit{id: h.ID, score: h.Score}
						if q.Explain {
							all[i].explain = mustJSON(map[string]any{"semantic": h, "plan": plan})
						}
					}
					want, err := svc.rankedPage(ctx, p, all, offset)
					if err != nil {
						t.Fatal(err)
					}
					// Every document has its vector; the count of those
					// without is the modes' own (rankedPage leaves it out).
					if got.Unembedded == nil || *got.Unembedded != 0 {
						t.Errorf("unembedded_documents %v, want 0", got.Unembedded)
					}
					got.Unembedded = nil
					g, _ := json.Marshal(got)
					w, _ := json.Marshal(want)
					if string(g) != string(w) {
						t.Errorf("one statement:\n%s\nranked, then fetched:\n%s", g, w)
					}
					if offset == 0 && len(got.Hits) == 0 {
						t.Errorf("no hits")
					}
				})
			}
		}
	}
	if len(plans) != 3 {
		t.Errorf("plans %v; want all three", plans)
	}
}

// TestEstimateCorrelatedFilter: in a table where most rows belong to
// another collection and have no vector, the planner multiplies the
// selectivities of collection, vector and tag as if independent and
// estimates a 10% tag at about 1% of a few hundred rows, so the query took
// the exact plan. The sample counts the collection's own rows: about 10%
// of 8,000, an iterative scan.
func TestEstimateCorrelatedFilter(t *testing.T) {
	t.Parallel()
	f := newVecFixture(t, 8000, 8, SemanticConfig{ExactMaxRows: 100})
	ctx := context.Background()
	var other int64
	if err := f.db.Pool.QueryRow(ctx, `INSERT INTO collections (name) VALUES ('plain') RETURNING id`).Scan(&other); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.Pool.Exec(ctx, `INSERT INTO documents (collection_id, title, body)
		SELECT $1, 'plain ' || g, repeat('words of a plain document ', 8) FROM generate_series(1, 60000) g`, other); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.Pool.Exec(ctx, `ANALYZE documents`); err != nil {
		t.Fatal(err)
	}
	k := KNN{CollectionID: f.cid, Dim: f.dim, Vector: f.point(), Filter: Tags{Op: TagsAll, Values: []string{"p10"}}, Depth: 10}
	a := &Args{}
	planned, _, err := f.sem.planEstimate(ctx, k, k.Filter.Compile(a), a.Values())
	if err != nil {
		t.Fatal(err)
	}
	got, plan, err := f.sem.KNN(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("planner alone: %.0f rows; plan %+v", planned, plan)
	if plan.Strategy != PlanIterative || plan.EstimatedRows < 400 || plan.EstimatedRows > 1600 {
		t.Errorf("plan %+v (the planner alone estimated %.0f rows); want iterative with about 800", plan, planned)
	}
	if len(got) != 10 {
		t.Errorf("%d hits, want 10", len(got))
	}
}
