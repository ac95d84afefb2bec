package app_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/geoseek/geoseek/cmd/geoseek/app"
	"github.com/geoseek/geoseek/internal/auth"
	"github.com/geoseek/geoseek/internal/pgtest"
)

// TestOpenAPICoversEveryRoute keeps /openapi.json in step with the router:
// every route the wired server answers must be described, with its method.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	a, err := app.New(context.Background(), app.Options{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Version: "test", SkipPlaces: true}, db.Pool, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	a.Server.Engine().ServeHTTP(w, httptest.NewRequest("GET", "/openapi.json", nil))
	if w.Code != 200 {
		t.Fatalf("/openapi.json: %d %s", w.Code, w.Body)
	}
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.0") {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	param := regexp.MustCompile(`:([A-Za-z_]+)`)
	for _, r := range a.Server.Engine().Routes() {
		p := param.ReplaceAllString(r.Path, "{$1}")
		// Gin cannot route "{y}.mvt" or "{collection}.json" as such; the
		// handlers parse the suffix.
		p = strings.Replace(p, "{yfile}", "{y}.mvt", 1)
		if p == "/tiles/{collection}" {
			p = "/tiles/{collection}.json"
		}
		item, ok := doc.Paths[p]
		if !ok {
			t.Errorf("route %s %s is not in /openapi.json", r.Method, p)
			continue
		}
		if _, ok := item[strings.ToLower(r.Method)]; !ok {
			t.Errorf("route %s %s: method missing from /openapi.json", r.Method, p)
		}
	}
}

func TestNewCollectionGetsTheDefaultEmbedder(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	a, err := app.New(ctx, app.Options{Addr: "127.0.0.1:0", DataDir: t.TempDir(), SkipPlaces: true}, db.Pool, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	_, key, err := auth.NewStore(db.Pool).Create(ctx, "t", []auth.Scope{auth.Write})
	if err != nil {
		t.Fatal(err)
	}
	post := func(body string) (int, map[string]any) {
		req := httptest.NewRequest("POST", "/collections", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		a.Server.Engine().ServeHTTP(w, req)
		var m map[string]any
		json.Unmarshal(w.Body.Bytes(), &m)
		return w.Code, m
	}
	code, m := post(`{"name":"notes"}`)
	if code != 201 || m["embedder"] != "offline" || m["embedding_dim"] != 384.0 {
		t.Fatalf("%d %v", code, m)
	}
	if code, m := post(`{"name":"bad","embedder":"magic"}`); code != 400 {
		t.Fatalf("unknown embedder: %d %v", code, m)
	}
	if code, m := post(`{"name":"remote","embedder":"openai","embedding_dim":1536}`); code != 400 {
		t.Fatalf("openai without a configured server: %d %v", code, m)
	}
}
