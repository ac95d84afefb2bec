package geo

import (
	"encoding/binary"
	"io"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/twpayne/go-geom"
	"github.com/twpayne/go-geom/encoding/ewkb"
)

// fakeRows serves the same row n times as pgx.Rows, so the items stream's
// own cost (scan targets, paging, encoding, writes) can be measured without
// a database.
type fakeRows struct {
	n, i int
	now  time.Time
	raw  [][]byte
	// text are the byte columns by position (nil: NULL).
	text [13][]byte
}

func (r *fakeRows) Close()                                       {}
func (r *fakeRows) Err() error                                   { return nil }
func (r *fakeRows) CommandTag() pgconn.CommandTag                { return pgconn.CommandTag{} }
func (r *fakeRows) FieldDescriptions() []pgconn.FieldDescription { return nil }
func (r *fakeRows) Values() ([]any, error)                       { return nil, nil }
func (r *fakeRows) RawValues() [][]byte                          { return r.raw }
func (r *fakeRows) Conn() *pgx.Conn                              { return nil }
func (r *fakeRows) TypeMap() *pgtype.Map                         { return nil }
func (r *fakeRows) Next() bool                                   { r.i++; return r.i <= r.n }

func (r *fakeRows) Scan(dest ...any) error {
	*dest[0].(*int64) = int64(r.i)
	for i, v := range r.text {
		if v != nil || i == 1 || i == 3 {
			*dest[i].(*pgtype.DriverBytes) = v
		}
	}
	ts := pgtype.Timestamptz{Time: r.now.Add(time.Duration(r.i) * time.Second), Valid: true}
	*dest[6].(*pgtype.Timestamptz), *dest[7].(*pgtype.Timestamptz) = ts, ts
	*dest[9].(*time.Time), *dest[10].(*time.Time) = r.now, r.now
	*dest[13].(*int64) = 0
	return nil
}

// BenchmarkFeatureStream is a page of 1,000 point features through
// FeatureStream.WriteTo, the /items hot path minus the database.
func BenchmarkFeatureStream(b *testing.B) {
	pt, err := ewkb.Marshal(geom.NewPointFlat(geom.XY, []float64{13.404954, 52.520008}).SetSRID(4326), binary.LittleEndian)
	if err != nil {
		b.Fatal(err)
	}
	s := NewService(nil, nil, Options{})
	col := &Collection{Name: "places"}
	q := &ItemsQuery{Collection: "places", Limit: 1000, Precision: -1}
	raw := make([][]byte, 14)
	raw[geomCol] = pt
	var text [13][]byte
	text[2] = []byte("A photo of the harbour")
	text[4] = []byte(`["sea","boat"]`)
	text[5] = []byte(`{"camera": "X100V", "iso": 200}`)
	text[11] = []byte("english")
	text[12] = []byte("123")
	b.ReportAllocs()
	for b.Loop() {
		fs := &FeatureStream{svc: s, q: q, col: col,
			rows: &fakeRows{n: 1001, now: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), raw: raw, text: text}}
		fs.advance()
		if err := fs.WriteTo(io.Discard, func(Page) []Link { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}
