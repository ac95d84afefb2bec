package search_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/require"

	"github.com/geoseek/geoseek/document"
	embedder "github.com/geoseek/geoseek/embed"
	"github.com/geoseek/geoseek/internal/auth"
	"github.com/geoseek/geoseek/internal/pgtest"
	"github.com/geoseek/geoseek/internal/problem"
	"github.com/geoseek/geoseek/search"
)

// packages is a small real corpus (Debian package descriptions).
var packages = [][2]string{
	{"postgresql-15", "The World's Most Advanced Open Source Relational Database"},
	{"python3-psycopg2", "Python 3 module for PostgreSQL"},
	{"gimp", "GNU Image Manipulation Program"},
	{"imagemagick", "image manipulation programs"},
	{"nginx", "small, powerful, scalable web/proxy server"},
	{"apache2", "Apache HTTP Server"},
	{"postgis", "Geographic objects support for PostgreSQL"},
	{"gdal-bin", "Geospatial Data Abstraction Library - Utility programs"},
}

type vecServer struct {
	db  *pgtest.DB
	srv *httptest.Server
	ids map[string]int64
}

func newVecServer(t *testing.T) *vecServer {
	t.Helper()
	pgtest.RequireVector(t)
	db := pgtest.New(t)
	ctx := context.Background()
	_, err := db.Pool.Exec(ctx, `INSERT INTO collections (name, default_lang, embedder, embedding_dim) VALUES ('pkgs', 'english', 'offline', 384)`)
	require.NoError(t, err)
	set, err := embedder.NewSet(embedder.Config{})
	require.NoError(t, err)
	vs := &vecServer{db: db, ids: map[string]int64{}}
	var ids []int64
	for i, p := range packages {
		d := document.Doc{Collection: "pkgs", Title: p[0], Body: p[1], Tags: []string{[]string{"even", "odd"}[i%2]}}
		id, err := document.Insert(ctx, db.Pool, &d)
		require.NoError(t, err)
		vs.ids[p[0]] = id
		ids = append(ids, id)
	}
	_, err = embedder.EmbedDocuments(ctx, db.Pool, set, ids)
	require.NoError(t, err)

	svc := search.NewService(db.Pool, search.Config{Semantic: search.NewSemantic(db.Pool, set, search.SemanticConfig{})})
	gin.SetMode(gin.TestMode)
	r := gin.New()
	r.Use(auth.Middleware(auth.NewStore(db.Pool), false))
	search.NewHandler(svc, nil).Register(r)
	vs.srv = httptest.NewServer(r)
	t.Cleanup(vs.srv.Close)
	return vs
}

func (vs *vecServer) get(t *testing.T, v url.Values) (int, []byte) {
	t.Helper()
	v.Set("collection", "pkgs")
	resp, err := http.Get(vs.srv.URL + "/search?" + v.Encode())
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if resp.StatusCode != http.StatusOK {
		require.Equal(t, problem.ContentType, resp.Header.Get("Content-Type"), string(b))
	}
	return resp.StatusCode, b
}

type hitsBody struct {
	Hits []struct {
		ID      int64           `json:"id"`
		Title   string          `json:"title"`
		Score   float64         `json:"score"`
		Explain json.RawMessage `json:"explain"`
	} `json:"hits"`
	NextCursor string `json:"next_cursor"`
}

func (vs *vecServer) hits(t *testing.T, v url.Values) hitsBody {
	t.Helper()
	code, b := vs.get(t, v)
	require.Equal(t, http.StatusOK, code, string(b))
	var hb hitsBody
	require.NoError(t, json.Unmarshal(b, &hb))
	return hb
}

func titles(hb hitsBody) []string {
	var out []string
	for _, h := range hb.Hits {
		out = append(out, h.Title)
	}
	return out
}

func TestSemanticHTTP(t *testing.T) {
	t.Parallel()
	vs := newVecServer(t)

	hb := vs.hits(t, url.Values{"mode": {"semantic"}, "q": {"postgresql"}, "limit": {"3"}, "explain": {"true"}})
	require.Len(t, hb.Hits, 3)
	require.Contains(t, []string{"postgresql-15", "python3-psycopg2", "postgis"}, hb.Hits[0].Title)
	var ex struct {
		Semantic search.Ranked       `json:"semantic"`
		Plan     search.SemanticPlan `json:"plan"`
	}
	require.NoError(t, json.Unmarshal(hb.Hits[0].Explain, &ex))
	require.Equal(t, 1, ex.Semantic.Rank)
	require.True(t, ex.Plan.Embedded)
	require.InDelta(t, hb.Hits[0].Score, ex.Semantic.Score, 1e-9)

	// A filter applies to the nearest neighbours.
	hb = vs.hits(t, url.Values{"mode": {"semantic"}, "q": {"image programs"}, "tags": {"odd"}})
	for _, h := range hb.Hits {
		require.Contains(t, []string{"python3-psycopg2", "imagemagick", "apache2", "gdal-bin"}, h.Title)
	}

	// Paging visits every document with a vector once.
	seen := map[int64]bool{}
	v := url.Values{"mode": {"semantic"}, "q": {"server"}, "limit": {"3"}}
	for range 10 {
		hb = vs.hits(t, v)
		for _, h := range hb.Hits {
			require.False(t, seen[h.ID], "hit %d twice", h.ID)
			seen[h.ID] = true
		}
		if hb.NextCursor == "" {
			break
		}
		v.Set("cursor", hb.NextCursor)
	}
	require.Len(t, seen, len(packages))

	// A raw vector: a stored document's own vector finds it first.
	off, _ := embedder.NewOffline(384, "english")
	vecs, _ := off.Embed(context.Background(), []string{embedder.Text(packages[2][0], packages[2][1])})
	vj, _ := json.Marshal(vecs[0])
	hb = vs.hits(t, url.Values{"mode": {"semantic"}, "vector": {string(vj)}, "limit": {"1"}})
	require.Equal(t, "gimp", hb.Hits[0].Title)
	require.InDelta(t, 1.0, hb.Hits[0].Score, 1e-5)
}

func TestSemanticHTTPErrors(t *testing.T) {
	t.Parallel()
	vs := newVecServer(t)
	bad := []url.Values{
		{"mode": {"semantic"}, "vector": {"[1,2,3]"}},                              // wrong dimension
		{"mode": {"semantic"}, "vector": {"[1,NaN,3]"}},                            // not JSON numbers
		{"mode": {"semantic"}, "vector": {"[" + strings.Repeat("0,", 383) + "0]"}}, // zero vector
		{"mode": {"semantic"}},                                                     // nothing to search for
		{"mode": {"semantic"}, "q": {"!!!"}},                                       // nothing to embed
		{"mode": {"hybrid"}, "semantic_ratio": {"1.5"}, "q": {"x"}},
	}
	for _, v := range bad {
		code, b := vs.get(t, v)
		require.Equal(t, http.StatusBadRequest, code, "%v: %s", v, b)
	}
	// POST body with a wrong-dimension vector.
	resp, err := http.Post(vs.srv.URL+"/search", "application/json", strings.NewReader(`{"collection":"pkgs","mode":"semantic","vector":[0.5,0.5]}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Equal(t, problem.ContentType, resp.Header.Get("Content-Type"))
}

func TestHybridHTTPRatioEnds(t *testing.T) {
	t.Parallel()
	vs := newVecServer(t)
	for _, q := range []string{"postgresql", "image manipulation", "server"} {
		kw := vs.hits(t, url.Values{"q": {q}, "limit": {"5"}})
		sem := vs.hits(t, url.Values{"mode": {"semantic"}, "q": {q}, "limit": {"5"}})
		h0 := vs.hits(t, url.Values{"mode": {"hybrid"}, "q": {q}, "limit": {"5"}, "semantic_ratio": {"0"}})
		h1 := vs.hits(t, url.Values{"mode": {"hybrid"}, "q": {q}, "limit": {"5"}, "semantic_ratio": {"1"}})
		require.Equal(t, titles(kw), titles(h0), "ratio 0 = keyword for %q", q)
		require.Equal(t, titles(sem), titles(h1), "ratio 1 = semantic for %q", q)

		hm := vs.hits(t, url.Values{"mode": {"hybrid"}, "q": {q}, "limit": {"8"}, "explain": {"true"}})
		require.NotEmpty(t, hm.Hits)
		var ex struct {
			Fused    struct{ Rank int }
			Keyword  *search.Ranked
			Semantic *search.Ranked
		}
		require.NoError(t, json.Unmarshal(hm.Hits[0].Explain, &ex))
		require.Equal(t, 1, ex.Fused.Rank)
		require.True(t, ex.Keyword != nil || ex.Semantic != nil)
		// Every keyword hit is in the fused list.
		for _, tt := range titles(kw) {
			require.True(t, slices.Contains(titles(hm), tt), "%q missing from hybrid", tt)
		}
	}
}

func TestSemanticHTTPWithoutPgvector(t *testing.T) {
	t.Parallel()
	vs := newVecServer(t)
	_, err := vs.db.Pool.Exec(context.Background(), `DROP EXTENSION vector CASCADE`)
	require.NoError(t, err)
	// A fresh server, as one started without pgvector.
	svc := search.NewService(vs.db.Pool, search.Config{})
	r := gin.New()
	r.Use(auth.Middleware(auth.NewStore(vs.db.Pool), false))
	search.NewHandler(svc, nil).Register(r)
	srv := httptest.NewServer(r)
	defer srv.Close()
	for _, mode := range []string{"semantic", "hybrid"} {
		resp, err := http.Get(srv.URL + "/search?collection=pkgs&q=postgresql&mode=" + mode)
		require.NoError(t, err)
		var d problem.Details
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&d))
		resp.Body.Close()
		require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
		require.Equal(t, problem.ErrExtensionMissing.Type(), d.Type)
		require.Equal(t, problem.ContentType, resp.Header.Get("Content-Type"))
	}
	// Everything else keeps working.
	resp, err := http.Get(srv.URL + "/search?collection=pkgs&q=postgresql")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, err = http.Get(srv.URL + "/search?collection=pkgs&q=postgresql&mode=hybrid&semantic_ratio=0")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

// TestSemanticAndHybridFacets: facets, counted beside the ranking, count
// the mode's matched set: semantic, the documents with a vector; hybrid,
// every document the filters leave.
func TestSemanticAndHybridFacets(t *testing.T) {
	t.Parallel()
	vs := newVecServer(t)
	// A document without a vector.
	_, err := document.Insert(context.Background(), vs.db.Pool, &document.Doc{Collection: "pkgs", Title: "novec", Body: "image programs", Tags: []string{"even"}})
	require.NoError(t, err)
	type facetsBody struct {
		Total  int64 `json:"total"`
		Facets struct {
			Tags []struct {
				Value string `json:"value"`
				Count int64  `json:"count"`
			} `json:"tags"`
		} `json:"facets"`
		Hits []json.RawMessage `json:"hits"`
	}
	get := func(mode string) facetsBody {
		t.Helper()
		code, b := vs.get(t, url.Values{"q": {"image manipulation"}, "mode": {mode}, "facets": {"tags"}, "limit": {"3"}})
		require.Equal(t, http.StatusOK, code, string(b))
		var fb facetsBody
		require.NoError(t, json.Unmarshal(b, &fb))
		require.NotEmpty(t, fb.Hits, mode)
		return fb
	}
	sem := get("semantic")
	require.EqualValues(t, 8, sem.Total)
	require.Equal(t, "[{even 4} {odd 4}]", fmt.Sprint(sem.Facets.Tags))
	hyb := get("hybrid")
	require.EqualValues(t, 9, hyb.Total)
	require.Equal(t, "[{even 5} {odd 4}]", fmt.Sprint(hyb.Facets.Tags))
}

// TestHybridCorrectsTypos: hybrid search's keyword side corrects a word the
// collection lacks, as keyword search does, and says so; with the keyword
// side alone (semantic_ratio 0) the misspelt word finds what the right one
// does.
func TestHybridCorrectsTypos(t *testing.T) {
	t.Parallel()
	vs := newVecServer(t)
	right := titles(vs.hits(t, url.Values{"mode": {"hybrid"}, "semantic_ratio": {"0"}, "q": {"geographic"}}))
	require.Equal(t, []string{"postgis"}, right)

	code, b := vs.get(t, url.Values{"mode": {"hybrid"}, "semantic_ratio": {"0"}, "q": {"geograpic"}})
	require.Equal(t, http.StatusOK, code, string(b))
	var res struct {
		Hits []struct {
			Title string `json:"title"`
		} `json:"hits"`
		Fuzzy       bool                `json:"fuzzy"`
		Corrections []search.Correction `json:"corrections"`
	}
	require.NoError(t, json.Unmarshal(b, &res))
	var got []string
	for _, h := range res.Hits {
		got = append(got, h.Title)
	}
	require.Equal(t, right, got, string(b))
	require.True(t, res.Fuzzy, string(b))
	require.Equal(t, []search.Correction{{Word: "geograpic", Used: []string{"geograph"}}}, res.Corrections)

	// Fused with the meaning side, the corrected keyword hit ranks first.
	fused := titles(vs.hits(t, url.Values{"mode": {"hybrid"}, "q": {"geograpic"}, "limit": {"3"}}))
	require.Equal(t, "postgis", fused[0], "%v", fused)
}
