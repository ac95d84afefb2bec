package document

import (
	"bytes"
	"testing"
	"unicode/utf8"

	"github.com/geoseek/geoseek/internal/textcheck"
)

// FuzzBulkLines runs a bulk load's staging pass (UTF-8 check, line reader,
// document decoding and validation) over arbitrary bytes. Malformed input
// must end in an error, never a panic; what passes is valid UTF-8 and every
// row names its line.
func FuzzBulkLines(f *testing.F) {
	for _, s := range []string{
		`{"title":"a","body":"b","tags":["x"],"props":{"k":1},"lang":"english"}` + "\n" + `{"title":"c","external_id":"e1","vector":[1,2,3]}` + "\r\n",
		`{"title":"g","geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]},"period":{"from":"2024-01-01","to":null}}`,
		"\n\n" + `{"title":"` + "\xff" + `"}`,
		`{"title":"x","vector":[1e999]}`,
	} {
		f.Add([]byte(s))
	}
	meta := &bulkMeta{collection: "c", defLang: "simple", langs: map[string]bool{"simple": true, "english": true}, dim: 3, hasVec: true}
	f.Fuzz(func(t *testing.T, b []byte) {
		src := meta.source(textcheck.NewReader(bytes.NewReader(b), "body"))
		last := int32(0)
		for src.Next() {
			line := src.row[0].(int32)
			if line <= last {
				t.Fatalf("line %d after line %d", line, last)
			}
			last = line
		}
		if src.err == nil && !utf8.Valid(b) {
			t.Fatalf("invalid UTF-8 accepted")
		}
	})
}
