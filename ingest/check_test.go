package ingest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/geoseek/geoseek/internal/problem"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	f := corpusFile(t, "exif-py__45-gps_ifd.jpg")
	p := uploaded(t, b.upload(t, f))
	stored := p.SHA256
	missing := hex.EncodeToString(sha256.New().Sum(nil))

	post := func(body string) (int, string) {
		rec := b.do(t, http.MethodPost, "/photos/check", strings.NewReader(body), "application/json")
		return rec.Code, rec.Body.String()
	}
	// Bare hashes, in request order, a repeat answered twice, any case.
	code, body := post(fmt.Sprintf(`{"sha256": [%q, %q, %q]}`, missing, strings.ToUpper(stored), stored))
	var res CheckResult
	if err := json.Unmarshal([]byte(body), &res); code != http.StatusOK || err != nil {
		t.Fatalf("check: %d %s", code, body)
	}
	if len(res.Existing) != 2 || res.Existing[0] != (Existing{SHA256: stored, ID: p.ID}) || res.Existing[1] != res.Existing[0] ||
		len(res.Missing) != 1 || res.Missing[0] != missing {
		t.Fatalf("check: %s", body)
	}
	// Files with sizes: a size that differs is missing.
	code, body = post(fmt.Sprintf(`{"files": [{"sha256": %q, "size": %d}, {"sha256": %q, "size": 1}]}`, stored, len(f.data), stored))
	res = CheckResult{}
	if err := json.Unmarshal([]byte(body), &res); code != http.StatusOK || err != nil || len(res.Existing) != 1 || len(res.Missing) != 1 {
		t.Fatalf("check files: %d %s", code, body)
	}
	// Empty lists are answered with empty lists, not null.
	if code, body = post(`{"sha256": []}`); code != http.StatusOK || body != `{"existing":[],"missing":[]}` {
		t.Fatalf("empty check: %d %s", code, body)
	}

	many := make([]string, MaxCheck+1)
	for i := range many {
		many[i] = `"` + missing + `"`
	}
	for _, tc := range []struct {
		body   string
		status int
		field  string
	}{
		{fmt.Sprintf(`{"sha256": [%q, "abc"]}`, stored), 400, "sha256[1]"},
		{fmt.Sprintf(`{"files": [{"sha256": %q}, {"sha256": "zz"}]}`, stored), 400, "files[1].sha256"},
		{fmt.Sprintf(`{"files": [{"sha256": %q, "size": -1}]}`, stored), 400, "files[0].size"},
		{`{"sha256": [], "files": []}`, 400, "body"},
		{`{}`, 400, "body"},
		{`[1, 2]`, 400, "body"},
		{`{"sha256": [` + strings.Join(many, ",") + `]}`, 413, ""},
	} {
		code, body := post(tc.body)
		var d problem.Details
		if err := json.Unmarshal([]byte(body), &d); err != nil || code != tc.status || d.Field != tc.field {
			t.Errorf("%.60s: %d %s, want %d naming %q", tc.body, code, body, tc.status, tc.field)
		}
	}
}
