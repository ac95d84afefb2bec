package document_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twpayne/go-geom"

	"github.com/geoseek/geoseek/document"
	"github.com/geoseek/geoseek/internal/pgtest"
	"github.com/geoseek/geoseek/internal/problem"
)

func ptr[T any](v T) *T { return &v }

func TestInsertGetUpdateDelete(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	when := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	d := &document.Doc{
		Collection: "photos", Title: "Tram in Lisbon", Body: "yellow tram", Lang: "english",
		Tags: []string{"tram", "city"}, Props: map[string]any{"color": "yellow", "n": 3.0},
		Period:   document.Instant(when),
		Geometry: geom.NewPointFlat(geom.XY, []float64{-9.14, 38.71}).SetSRID(4326),
	}
	id, err := document.Insert(ctx, db.Pool, d)
	if err != nil {
		t.Fatal(err)
	}
	got, err := document.Get(ctx, db.Pool, "photos", id)
	if err != nil {
		t.Fatal(err)
	}
	if got.Title != d.Title || got.Lang != "english" || len(got.Tags) != 2 || got.Props["color"] != "yellow" {
		t.Fatalf("got %+v", got)
	}
	if p, ok := got.Geometry.(*geom.Point); !ok || p.X() != -9.14 || p.Y() != 38.71 {
		t.Fatalf("geometry %#v", got.Geometry)
	}
	if got.Period == nil || !got.Period.Lower.Equal(when) || !got.Period.UpperInc {
		t.Fatalf("period %+v", got.Period)
	}
	got.Title = "Tram"
	got.Lang = ""
	if err := document.Update(ctx, db.Pool, got); err != nil {
		t.Fatal(err)
	}
	again, _ := document.Get(ctx, db.Pool, "photos", id)
	if again.Title != "Tram" || again.Lang != "simple" {
		t.Fatalf("after update %+v (empty lang must take the collection default)", again)
	}
	if err := document.Delete(ctx, db.Pool, "photos", id); err != nil {
		t.Fatal(err)
	}
	if _, err := document.Get(ctx, db.Pool, "photos", id); !errors.Is(err, problem.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if err := document.Delete(ctx, db.Pool, "photos", id); !errors.Is(err, problem.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func TestUpsertIsIdempotent(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	d := &document.Doc{Collection: "photos", ExternalID: ptr("ext-1"), Title: "one"}
	id1, created, err := document.Upsert(ctx, db.Pool, d)
	if err != nil || !created {
		t.Fatalf("first upsert: %v created=%v", err, created)
	}
	d2 := &document.Doc{Collection: "photos", ExternalID: ptr("ext-1"), Title: "two"}
	id2, created, err := document.Upsert(ctx, db.Pool, d2)
	if err != nil || created || id2 != id1 {
		t.Fatalf("second upsert: id %d vs %d, created=%v, err %v", id2, id1, created, err)
	}
	var n int
	db.Pool.QueryRow(ctx, `SELECT count(*) FROM documents WHERE external_id = 'ext-1'`).Scan(&n)
	if n != 1 {
		t.Fatalf("%d documents", n)
	}
	if _, err := document.Insert(ctx, db.Pool, &document.Doc{Collection: "photos", ExternalID: ptr("ext-1")}); !errors.Is(err, problem.ErrConflict) {
		t.Fatalf("insert of an existing external id: %v", err)
	}
}

func TestBadInputIsAValidationError(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	now := time.Now()
	earlier := now.Add(-time.Hour)
	cases := map[string]*document.Doc{
		"unknown lang":    {Collection: "photos", Lang: "klingon"},
		"bad coordinate":  {Collection: "photos", Geometry: geom.NewPointFlat(geom.XY, []float64{200, 10})},
		"reversed period": {Collection: "photos", Period: &document.Period{Lower: &now, Upper: &earlier}},
		"empty tag":       {Collection: "photos", Tags: []string{""}},
		"NUL in body":     {Collection: "photos", Body: "a\x00b"},
	}
	for name, d := range cases {
		_, err := document.Insert(ctx, db.Pool, d)
		var ve *problem.ValidationError
		if !errors.As(err, &ve) {
			t.Errorf("%s: got %v, want a validation error", name, err)
		}
	}
	if _, err := document.Insert(ctx, db.Pool, &document.Doc{Collection: "nope"}); !errors.Is(err, problem.ErrNotFound) {
		t.Errorf("unknown collection: %v", err)
	}
}

func TestEmbeddingDimensionChecked(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	_, err := document.Insert(ctx, db.Pool, &document.Doc{Collection: "photos", Embedding: []float32{1, 2, 3}})
	if !pgtest.VectorAvailable(t) {
		if !errors.Is(err, problem.ErrExtensionMissing) {
			t.Fatalf("without pgvector: %v, want ErrExtensionMissing", err)
		}
		pgtest.RequireVector(t)
	}
	var ve *problem.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("wrong dimension: %v", err)
	}
	v := make([]float32, 384)
	v[0] = 1
	if _, err := document.Insert(ctx, db.Pool, &document.Doc{Collection: "photos", Embedding: v}); err != nil {
		t.Fatalf("right dimension: %v", err)
	}
}

// TestInsertMany: one statement stores every document as Insert would, each
// gets its own id in order, and a bad one stores none.
func TestInsertMany(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	when := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	var docs []*document.Doc
	for i := range 5 {
		d := &document.Doc{Collection: "photos", Title: "photo " + string(rune('a'+i)), Body: "tram", Tags: []string{"t"},
			Props: map[string]any{"i": float64(i)}}
		switch i {
		case 1:
			d.Lang, d.Period = "english", document.Instant(when)
		case 2:
			d.Geometry = geom.NewPointFlat(geom.XY, []float64{-9.14, 38.71}).SetSRID(4326)
			d.ExternalID = ptr("ext-2")
		}
		docs = append(docs, d)
	}
	if err := document.InsertMany(ctx, db.Pool, docs); err != nil {
		t.Fatal(err)
	}
	for i, d := range docs {
		got, err := document.Get(ctx, db.Pool, "photos", d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Title != d.Title || got.Props["i"] != float64(i) || d.CreatedAt.IsZero() {
			t.Errorf("document %d (id %d) reads back as %+v", i, d.ID, got)
		}
		if i > 0 && d.ID <= docs[i-1].ID {
			t.Errorf("ids out of order: %d after %d", d.ID, docs[i-1].ID)
		}
	}
	if got, _ := document.Get(ctx, db.Pool, "photos", docs[1].ID); got.Lang != "english" || got.Period == nil || !got.Period.Lower.Equal(when) {
		t.Errorf("lang/period %+v", got)
	}
	if got, _ := document.Get(ctx, db.Pool, "photos", docs[0].ID); got.Lang != "simple" {
		t.Errorf("empty lang must take the collection default: %q", got.Lang)
	}
	if got, _ := document.Get(ctx, db.Pool, "photos", docs[2].ID); got.Geometry == nil || got.ExternalID == nil || *got.ExternalID != "ext-2" {
		t.Errorf("geometry/external id %+v", got)
	}

	// All or none: a duplicate external id fails the statement.
	var n0, n1 int
	db.Pool.QueryRow(ctx, `SELECT count(*) FROM documents`).Scan(&n0)
	bad := []*document.Doc{{Collection: "photos", Title: "fine"}, {Collection: "photos", Title: "dup", ExternalID: ptr("ext-2")}}
	if err := document.InsertMany(ctx, db.Pool, bad); !errors.Is(err, problem.ErrConflict) {
		t.Fatalf("duplicate external id: %v", err)
	}
	db.Pool.QueryRow(ctx, `SELECT count(*) FROM documents`).Scan(&n1)
	if n1 != n0 {
		t.Fatalf("%d documents written by a failed InsertMany", n1-n0)
	}
	if err := document.InsertMany(ctx, db.Pool, []*document.Doc{{Collection: "nope", Title: "x"}}); !errors.Is(err, problem.ErrNotFound) {
		t.Fatalf("unknown collection: %v", err)
	}
	if err := document.InsertMany(ctx, db.Pool, []*document.Doc{{Collection: "photos", Title: "ok"}, {Collection: "photos", Body: "nul \x00"}}); err == nil {
		t.Fatal("an invalid document was accepted")
	}
}
