package ingest

import (
	"reflect"
	"strings"
	"testing"
)

// TestPhotoWriter: every photoRow field is a named, typed column of the
// insert, and its arguments are one slice per column with a value per row.
func TestPhotoWriter(t *testing.T) {
	t.Parallel()
	w := newPhotoWriter()
	typ := reflect.TypeFor[photoRow]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		col, pg := f.Tag.Get("db"), f.Tag.Get("pg")
		if col == "" || pg == "" {
			t.Errorf("field %s: db %q, pg %q; both are needed", f.Name, col, pg)
		}
		if !strings.Contains(w.sql, " "+col+",") && !strings.Contains(w.sql, " "+col+")") && !strings.Contains(w.sql, "("+col+",") {
			t.Errorf("column %s not in %s", col, w.sql)
		}
	}
	rows := []photoRow{{DocumentID: 1, Mime: "image/jpeg"}, {DocumentID: 2, Mime: "image/png"}}
	args := w.args(rows)
	if len(args) != typ.NumField() {
		t.Fatalf("%d arguments for %d columns", len(args), typ.NumField())
	}
	if ids, ok := args[0].([]int64); !ok || len(ids) != 2 || ids[1] != 2 {
		t.Errorf("document ids %#v", args[0])
	}
	if mimes, ok := args[3].([]string); !ok || mimes[0] != "image/jpeg" || mimes[1] != "image/png" {
		t.Errorf("mimes %#v", args[3])
	}
}
