package app_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/geoseek/geoseek/cmd/geoseek/app"
	"github.com/geoseek/geoseek/internal/auth"
	"github.com/geoseek/geoseek/internal/pgtest"
)

// keyedApp is the wired program on a fresh database, not listening, with a
// key of the given scopes (read and write when none are given).
type keyedApp struct {
	db  *pgtest.DB
	app *app.App
	key string
}

func newKeyedApp(t *testing.T, scopes ...auth.Scope) *keyedApp {
	t.Helper()
	db := pgtest.New(t)
	ctx := context.Background()
	a, err := app.New(ctx, app.Options{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Version: "test", SkipPlaces: true}, db.Pool, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if len(scopes) == 0 {
		scopes = []auth.Scope{auth.Write, auth.Read}
	}
	_, key, err := auth.NewStore(db.Pool).Create(ctx, "t", scopes)
	if err != nil {
		t.Fatal(err)
	}
	return &keyedApp{db: db, app: a, key: key}
}

// do sends a request with the key (and content type ct, if any) and returns
// the status, the response's content type and its body as a JSON object.
func (k *keyedApp) do(t *testing.T, method, path, ct, body string) (int, string, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+k.key)
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	w := httptest.NewRecorder()
	k.app.Server.Engine().ServeHTTP(w, req)
	var m map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &m)
	return w.Code, w.Header().Get("Content-Type"), m
}
