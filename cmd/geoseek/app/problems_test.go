package app_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/geoseek/geoseek/geo"
)

// TestProblemDetailsSpeakGeoseek: requests that PostgreSQL refuses (a row
// that is not there, a NUL in JSON, an unknown language, a forged cursor, a
// duplicate key) are answered with a 4xx whose detail says what was wrong
// in the service's words, never with PostgreSQL's own message.
func TestProblemDetailsSpeakGeoseek(t *testing.T) {
	t.Parallel()
	k := newKeyedApp(t)
	do := func(method, path, ct, body string) (int, map[string]any) {
		t.Helper()
		code, _, m := k.do(t, method, path, ct, body)
		return code, m
	}
	if code, m := do("POST", "/collections", "application/json", `{"name":"docs","default_lang":"english"}`); code != 201 {
		t.Fatalf("create collection: %d %v", code, m)
	}
	code, m := do("POST", "/collections/docs/documents", "application/json", `{"title":"a","props":{"n":1}}`)
	if code != 201 {
		t.Fatalf("create document: %d %v", code, m)
	}
	doc := fmt.Sprintf("/collections/docs/documents/%d", int64(m["id"].(float64)))
	forged := geo.Cursor{Key: "not a time", ID: 1, Sort: "created"}.Encode()
	feature := func(props string) string {
		return `{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[1,2]},"properties":{` + props + `}}]}`
	}
	for _, tc := range []struct {
		method, path, ct, body string
		status                 int
	}{
		{"GET", "/photos/99999/thumbnail", "", "", 404},
		{"POST", "/collections/docs/documents", "application/json", `{"title":"x","props":{"k":"a\u0000b"}}`, 400},
		{"PUT", doc, "application/json", `{"title":"x","lang":"klingon"}`, 400},
		{"POST", "/collections/docs/documents/bulk", "application/x-ndjson", `{"title":"x","props":{"k":"\u0000"}}` + "\n", 400},
		{"POST", "/collections/docs/documents/bulk", "application/x-ndjson", `{"title":"x","lang":"klingon"}` + "\n", 400},
		{"POST", "/collections/docs/items", "application/geo+json", feature(`"k":"\u0000"`), 400},
		{"POST", "/collections/docs/items", "application/geo+json", feature(`"lang":"klingon"`), 400},
		{"GET", "/collections/docs/items?sortby=created&cursor=" + forged, "", "", 400},
	} {
		code, m := do(tc.method, tc.path, tc.ct, tc.body)
		if code != tc.status {
			t.Errorf("%s %s %s: %d %v; want %d", tc.method, tc.path, tc.body, code, m, tc.status)
			continue
		}
		d, _ := m["detail"].(string)
		for _, pgText := range []string{"SQLSTATE", "\n", "no rows", "violates", "invalid input syntax", "unsupported Unicode",
			"does not exist", "text search configuration", "ERROR", "PostgreSQL", "jsonb", "timestamp with time zone"} {
			if strings.Contains(d, pgText) {
				t.Errorf("%s %s %s: detail %q carries PostgreSQL's text (%q)", tc.method, tc.path, tc.body, d, pgText)
			}
		}
	}
}
