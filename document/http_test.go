package document_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/require"

	"github.com/geoseek/geoseek/document"
	"github.com/geoseek/geoseek/internal/auth"
	"github.com/geoseek/geoseek/internal/pgtest"
	"github.com/geoseek/geoseek/internal/problem"
)

type api struct {
	db     *pgtest.DB
	srv    *httptest.Server
	writer string
	reader string
}

func newAPI(t *testing.T) api {
	t.Helper()
	db := pgtest.New(t)
	gin.SetMode(gin.TestMode)
	r := gin.New()
	store := auth.NewStore(db.Pool)
	r.Use(auth.Middleware(store, false))
	document.NewHandler(db.Pool, nil, document.HandlerConfig{}).Register(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	ctx := context.Background()
	_, w, err := store.Create(ctx, "w", []auth.Scope{auth.Write, auth.Read})
	require.NoError(t, err)
	_, rd, err := store.Create(ctx, "r", []auth.Scope{auth.Read})
	require.NoError(t, err)
	a := api{db: db, srv: srv, writer: w, reader: rd}
	code, _ := a.do(t, "POST", "/collections", a.writer, "application/json", `{"name":"docs","title":"Docs","default_lang":"english"}`)
	require.Equal(t, http.StatusCreated, code)
	return a
}

func (a api) do(t *testing.T, method, path, key, ct, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, a.srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var m map[string]any
	if len(b) > 0 {
		require.NoError(t, json.Unmarshal(b, &m), "%s", b)
	}
	if resp.StatusCode >= 400 {
		require.Equal(t, problem.ContentType, resp.Header.Get("Content-Type"), "%s", b)
	}
	return resp.StatusCode, m
}

func count(t *testing.T, a api) int {
	t.Helper()
	var n int
	require.NoError(t, a.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM documents d JOIN collections c ON c.id = d.collection_id WHERE c.name = 'docs'`).Scan(&n))
	return n
}

func TestCollectionsCreate(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	code, m := a.do(t, "POST", "/collections", a.writer, "application/json",
		`{"name":"maps","title":"Maps","description":"d","default_lang":"german","embedder":"openai","embedding_model":"m","embedding_dim":8}`)
	require.Equal(t, http.StatusCreated, code, m)
	require.Equal(t, "german", m["default_lang"])
	require.EqualValues(t, 8, m["embedding_dim"])
	for body, want := range map[string]int{
		`{"name":"maps"}`:                         http.StatusConflict,
		`{"name":"Bad Name"}`:                     http.StatusBadRequest,
		`{"name":"x","default_lang":"klingon"}`:   http.StatusBadRequest,
		`{"name":"x","embedding_dim":0}`:          http.StatusBadRequest,
		`{"name":"x","colour":"red"}`:             http.StatusBadRequest,
		`{"name":"x'); DROP TABLE documents;--"}`: http.StatusBadRequest,
	} {
		code, m := a.do(t, "POST", "/collections", a.writer, "application/json", body)
		require.Equal(t, want, code, "%s: %v", body, m)
	}
	code, _ = a.do(t, "POST", "/collections", a.reader, "application/json", `{"name":"y"}`)
	require.Equal(t, http.StatusForbidden, code)
	code, _ = a.do(t, "POST", "/collections", "", "application/json", `{"name":"y"}`)
	require.Equal(t, http.StatusUnauthorized, code)
}

func TestDocumentLifecycle(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	doc := `{"title":"Red apples","body":"Crisp and sweet.","tags":["fruit"],"props":{"color":"red","n":{"a":1,"b":2}},
		"period":{"from":"2024-01-01T00:00:00Z","to":"2024-02-01T00:00:00Z"},
		"geometry":{"type":"Point","coordinates":[13.4,52.5]}}`
	code, m := a.do(t, "POST", "/collections/docs/documents", a.writer, "application/json", doc)
	require.Equal(t, http.StatusCreated, code, m)
	id := int64(m["id"].(float64))
	require.Equal(t, "english", m["lang"]) // the collection default
	require.Equal(t, map[string]any{"type": "Point", "coordinates": []any{13.4, 52.5}}, m["geometry"])
	require.Equal(t, map[string]any{"from": "2024-01-01T00:00:00Z", "to": "2024-02-01T00:00:00Z", "bounds": "[)"}, m["period"])
	path := fmt.Sprintf("/collections/docs/documents/%d", id)

	code, m = a.do(t, "GET", path, "", "", "")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "Red apples", m["title"])

	// PATCH: only the given members change; props merge (null deletes).
	code, m = a.do(t, "PATCH", path, a.writer, "application/merge-patch+json", `{"title":"Green apples","props":{"color":"green","n":{"a":null}}}`)
	require.Equal(t, http.StatusOK, code, m)
	require.Equal(t, "Green apples", m["title"])
	require.Equal(t, "Crisp and sweet.", m["body"])
	require.Equal(t, map[string]any{"color": "green", "n": map[string]any{"b": 2.0}}, m["props"])
	require.Equal(t, []any{"fruit"}, m["tags"])

	// PUT replaces everything.
	code, m = a.do(t, "PUT", path, a.writer, "application/json", `{"title":"Pears"}`)
	require.Equal(t, http.StatusOK, code, m)
	require.Equal(t, "", m["body"])
	require.Equal(t, []any{}, m["tags"])
	require.Nil(t, m["geometry"])

	// Bad input is a 400 and changes nothing.
	for _, body := range []string{
		`{"title":1}`, `{"tags":["a",""]}`, `{"geometry":{"type":"Point","coordinates":[500,1]}}`,
		`{"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[0,0]]]}}`, `{"lang":"klingon"}`,
		`{"period":{"from":"2024-02-01T00:00:00Z","to":"2024-01-01T00:00:00Z"}}`, `{"props":[1]}`,
		`{"vector":[1,"x"]}`, `{"unknown":1}`, `not json`, `{"title":"a\u0000b"}`, `{"props":{"k":"\u0000"}}`,
	} {
		code, m := a.do(t, "PUT", path, a.writer, "application/json", body)
		require.Equal(t, http.StatusBadRequest, code, "%s: %v", body, m)
	}
	code, m = a.do(t, "GET", path, "", "", "")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "Pears", m["title"])

	code, _ = a.do(t, "PUT", path, a.writer, "text/plain", `{"title":"x"}`)
	require.Equal(t, http.StatusUnsupportedMediaType, code)
	code, _ = a.do(t, "DELETE", path, a.reader, "", "")
	require.Equal(t, http.StatusForbidden, code)
	code, _ = a.do(t, "DELETE", path, a.writer, "", "")
	require.Equal(t, http.StatusNoContent, code)
	code, _ = a.do(t, "DELETE", path, a.writer, "", "")
	require.Equal(t, http.StatusNotFound, code)
	code, _ = a.do(t, "GET", "/collections/docs/documents/abc", "", "", "")
	require.Equal(t, http.StatusBadRequest, code)
	code, _ = a.do(t, "POST", "/collections/nope/documents", a.writer, "application/json", `{"title":"x"}`)
	require.Equal(t, http.StatusNotFound, code)
}

func TestUpsertByExternalIDIsIdempotent(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	code, m := a.do(t, "POST", "/collections/docs/documents", a.writer, "application/json", `{"external_id":"sku-1","title":"One"}`)
	require.Equal(t, http.StatusCreated, code, m)
	id := m["id"]
	for i := 0; i < 2; i++ {
		code, m = a.do(t, "POST", "/collections/docs/documents", a.writer, "application/json", `{"external_id":"sku-1","title":"One, again"}`)
		require.Equal(t, http.StatusOK, code, m)
		require.Equal(t, id, m["id"])
		require.Equal(t, "One, again", m["title"])
	}
	require.Equal(t, 1, count(t, a))
}

func ndjson(lines ...string) string { return strings.Join(lines, "\n") + "\n" }

func TestBulkAllOrNothing(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	var b bytes.Buffer
	for i := 0; i < 300; i++ {
		fmt.Fprintf(&b, `{"external_id":"e%d","title":"Title %d","body":"body text","tags":["t%d"],"props":{"i":%d},"geometry":{"type":"Point","coordinates":[%d,1]}}`+"\n", i, i, i%3, i, i%180)
		if i == 100 {
			b.WriteString("\n") // blank lines are skipped
		}
	}
	code, m := a.do(t, "POST", "/collections/docs/documents/bulk", a.writer, "application/x-ndjson", b.String())
	require.Equal(t, http.StatusOK, code, m)
	require.EqualValues(t, 300, m["inserted"])
	require.Equal(t, 300, count(t, a))

	// Re-sending updates in place (idempotent by external_id).
	code, m = a.do(t, "POST", "/collections/docs/documents/bulk", a.writer, "application/x-ndjson",
		ndjson(`{"external_id":"e1","title":"changed"}`, `{"title":"no external id"}`))
	require.Equal(t, http.StatusOK, code, m)
	require.EqualValues(t, 1, m["inserted"])
	require.EqualValues(t, 1, m["updated"])
	require.Equal(t, 301, count(t, a))

	// One bad line anywhere: nothing is written, and the error names the line.
	for _, tc := range []struct{ body, field string }{
		{ndjson(`{"external_id":"n1","title":"ok"}`, `{"title":5}`), "line 2: title"},
		{ndjson(`{"external_id":"n1","title":"ok"}`, `{"title":"x","geometry":{"type":"Point","coordinates":[1,100]}}`), "line 2: geometry"},
		{ndjson(`{"external_id":"n1"}`, `{"external_id":"n2"}`, `{"external_id":"n1"}`), "external_id"},
		{ndjson(`{"external_id":"n1"}`, `{"lang":"klingon"}`), "line 2: lang"},
		{ndjson(`{"external_id":"n1"}`, `{"tags":["a",""]}`), "line 2: tags[1]"},
		{ndjson(`{"external_id":"n1"}`, `{"title":"x"`), "line 2"},
		{ndjson(`{"external_id":"n1"}`, `{"props":{"a":"\u0000"}}`), ""},
	} {
		code, m := a.do(t, "POST", "/collections/docs/documents/bulk", a.writer, "application/x-ndjson", tc.body)
		require.Equal(t, http.StatusBadRequest, code, "%s: %v", tc.body, m)
		if tc.field != "" {
			require.Equal(t, tc.field, m["field"], "%v", m)
		}
		require.Equal(t, 301, count(t, a))
	}
	code, _ = a.do(t, "POST", "/collections/nope/documents/bulk", a.writer, "application/x-ndjson", ndjson(`{"title":"x"}`))
	require.Equal(t, http.StatusNotFound, code)
	code, _ = a.do(t, "POST", "/collections/docs/documents/bulk", a.reader, "application/x-ndjson", ndjson(`{"title":"x"}`))
	require.Equal(t, http.StatusForbidden, code)
}

func TestMergePatchSemantics(t *testing.T) {
	t.Parallel()
	d := &document.Doc{Props: map[string]any{"a": 1, "b": map[string]any{"c": 2, "d": 3}}}
	require.NoError(t, document.PatchJSON(d, []byte(`{"props":{"a":null,"b":{"c":null,"e":4},"f":[1]}}`)))
	b, _ := json.Marshal(d.Props)
	require.JSONEq(t, `{"b":{"d":3,"e":4},"f":[1]}`, string(b))
	require.NoError(t, document.ApplyJSON(d, []byte(`{"props":{"x":1}}`)))
	b, _ = json.Marshal(d.Props)
	require.JSONEq(t, `{"x":1}`, string(b))
	for _, trailing := range []string{`{"title":"t"}]`, `{"title":"t"}}`, `{"title":"t"} {}`} {
		require.Error(t, document.ApplyJSON(d, []byte(trailing)), trailing)
	}
	require.NoError(t, document.ApplyJSON(d, []byte("{\"title\":\"t\"}\n ")))
}

func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"title":"a","tags":["x"],"props":{"k":1},"period":{"from":"2024-01-01T00:00:00Z"},"geometry":{"type":"Point","coordinates":[1,2]}}`,
		`{"external_id":"e","vector":[0.5,1]}`, `{"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := document.DecodeJSON("c", []byte(s))
		if err != nil {
			return
		}
		_ = d.Validate()
		if _, err := document.ToOutput(d); err != nil && d.Geometry == nil {
			t.Fatalf("ToOutput: %v", err)
		}
	})
}

// TestPeriodVocabulary: a period goes in and comes out as {"from", "to",
// "bounds"}, on the documents API and in bulk loads; the old member names
// are refused with a 400 naming the new ones.
func TestPeriodVocabulary(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	for _, tc := range []struct{ in, want string }{
		{`{"from":"2024-01-01T00:00:00Z","to":"2024-01-01T00:00:00Z","bounds":"[]"}`, `{"from":"2024-01-01T00:00:00Z","to":"2024-01-01T00:00:00Z","bounds":"[]"}`},
		{`{"from":"2024-01-01","to":null}`, `{"from":"2024-01-01T00:00:00Z","to":null,"bounds":"[)"}`},
		{`{"to":"2024-03-01T12:00:00+01:00","bounds":"(]"}`, `{"from":null,"to":"2024-03-01T11:00:00Z","bounds":"(]"}`},
	} {
		code, m := a.do(t, "POST", "/collections/docs/documents", a.writer, "application/json", `{"title":"p","period":`+tc.in+`}`)
		require.Equal(t, http.StatusCreated, code, "%s: %v", tc.in, m)
		got, err := json.Marshal(m["period"])
		require.NoError(t, err)
		var want any
		require.NoError(t, json.Unmarshal([]byte(tc.want), &want))
		wantB, _ := json.Marshal(want)
		require.Equal(t, string(wantB), string(got), tc.in)
		// What comes out goes back in unchanged.
		code, m2 := a.do(t, "PUT", fmt.Sprintf("/collections/docs/documents/%d", int64(m["id"].(float64))), a.writer, "application/json", `{"title":"p","period":`+string(got)+`}`)
		require.Equal(t, http.StatusOK, code, m2)
		require.Equal(t, m["period"], m2["period"])
	}
	for _, tc := range []struct{ in, field, names string }{
		{`{"lower":"2024-01-01T00:00:00Z"}`, "period.lower", `"from"`},
		{`{"from":"2024-01-01T00:00:00Z","upper":null}`, "period.upper", `"to"`},
		{`{"from":"2024-01-01T00:00:00Z","lower_inc":true}`, "period.lower_inc", `"bounds"`},
		{`{"from":"2024-01-01T00:00:00Z","bounds":"[["}`, "period.bounds", `"[)"`},
		{`{"from":"yesterday"}`, "period.from", "RFC 3339"},
		{`{"from":"2024-01-01","start":"x"}`, "period.start", `"from", "to", "bounds"`},
	} {
		code, m := a.do(t, "POST", "/collections/docs/documents", a.writer, "application/json", `{"title":"p","period":`+tc.in+`}`)
		require.Equal(t, http.StatusBadRequest, code, "%s: %v", tc.in, m)
		require.Equal(t, tc.field, m["field"], "%v", m)
		require.Contains(t, m["detail"], tc.names)
		code, m = a.do(t, "POST", "/collections/docs/documents/bulk", a.writer, "application/x-ndjson", ndjson(`{"title":"p","period":`+tc.in+`}`))
		require.Equal(t, http.StatusBadRequest, code, "bulk %s: %v", tc.in, m)
		require.Contains(t, m["detail"], tc.names)
	}
}

// TestReservedPropsRefused: a props key named like a field a GeoJSON Feature
// writes itself (title, tags, created, …) would be hidden behind that field;
// every documents write path refuses it with a 400 that names the key.
func TestReservedPropsRefused(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	code, m := a.do(t, "POST", "/collections/docs/documents", a.writer, "application/json", `{"title":"ok","props":{"kind":"x"}}`)
	require.Equal(t, http.StatusCreated, code, m)
	path := fmt.Sprintf("/collections/docs/documents/%d", int64(m["id"].(float64)))
	for _, key := range document.ReservedProps() {
		props := `{"props":{"kind":"x","` + key + `":1}}`
		for _, w := range []struct{ method, path, ct, body string }{
			{"POST", "/collections/docs/documents", "application/json", props},
			{"PUT", path, "application/json", props},
			{"PATCH", path, "application/merge-patch+json", props},
			{"POST", "/collections/docs/documents/bulk", "application/x-ndjson", ndjson(`{"external_id":"b1"}`, props)},
		} {
			code, m := a.do(t, w.method, w.path, a.writer, w.ct, w.body)
			require.Equal(t, http.StatusBadRequest, code, "%s %s %s: %v", w.method, w.path, w.body, m)
			require.Contains(t, m["field"], "props."+key, "%v", m)
			require.Contains(t, m["detail"], `"`+key+`"`, "%v", m)
		}
	}
	require.Equal(t, 1, count(t, a))
	// Nested keys are the client's own business.
	code, m = a.do(t, "PATCH", path, a.writer, "application/merge-patch+json", `{"props":{"kind":{"tags":1,"title":2}}}`)
	require.Equal(t, http.StatusOK, code, m)
}
