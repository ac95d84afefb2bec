package cql2

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCompile(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	d0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		in   string
		sql  string
		args []any
	}{
		{`title = 'a''b'`, `d.title = $3::text`, []any{"a'b"}},
		{`'x' < title`, `d.title > $3::text`, []any{"x"}},
		{`id >= 10 AND NOT id = 12`, `(d.id >= $3::bigint AND NOT (d.id = $4::bigint))`, []any{int64(10), int64(12)}},
		{`camera = 'Nikon' OR iso > 400`, `(d.props @> $3::jsonb OR (CASE WHEN jsonb_typeof(d.props->$4::text) = 'number' THEN (d.props->>$4::text)::numeric END) > $5::numeric)`, []any{`{"camera":"Nikon"}`, "iso", 400.0}},
		{`"props.lens" <> 'x'`, `(d.props->>$3::text) <> $4::text`, []any{"lens", "x"}},
		{`flash = TRUE`, `d.props @> $3::jsonb`, []any{`{"flash":true}`}},
		{`title LIKE 'Sun%'`, `d.title LIKE $3::text`, []any{"Sun%"}},
		{`title NOT LIKE '_x'`, `d.title NOT LIKE $3::text`, []any{"_x"}},
		{`tags IN ('a','b')`, `(d.tags && $3::text[])`, []any{[]string{"a", "b"}}},
		{`tags = 'a'`, `(d.tags @> ARRAY[$3::text])`, []any{"a"}},
		{`id NOT IN (1, 2)`, `NOT (d.id = ANY($3::bigint[]))`, []any{[]int64{1, 2}}},
		{`iso BETWEEN 100 AND 200`, `((CASE WHEN jsonb_typeof(d.props->$3::text) = 'number' THEN (d.props->>$3::text)::numeric END) >= $4::numeric AND (CASE WHEN jsonb_typeof(d.props->$5::text) = 'number' THEN (d.props->>$5::text)::numeric END) <= $6::numeric)`, []any{"iso", 100.0, "iso", 200.0}},
		{`geometry IS NULL`, `(d.geom IS NULL)`, nil},
		{`lens IS NOT NULL`, `NOT (d.props->$3::text IS NULL OR d.props->$3::text = 'null'::jsonb)`, []any{"lens"}},
		{`created > TIMESTAMP('2024-01-02T03:04:05Z')`, `d.created_at > $3::timestamptz`, []any{t0}},
		{`T_INTERSECTS(datetime, INTERVAL('2024-01-01', '..'))`, `(d.period && tstzrange($3::timestamptz, $4::timestamptz, '[]'))`, []any{d0, nil}},
		{`T_DURING(period, INTERVAL(DATE('2024-01-01'), TIMESTAMP('2024-01-02T03:04:05Z')))`, `(d.period <@ tstzrange($3::timestamptz, $4::timestamptz, '[]'))`, []any{d0, t0}},
		{`t_before(datetime, TIMESTAMP('2024-01-02T03:04:05Z'))`, `(d.period << tstzrange($3::timestamptz, $4::timestamptz, '[]'))`, []any{t0, t0}},
		{`TRUE`, `TRUE`, nil},
		{`(title = 'a' OR title = 'b') AND body = 'c'`, `((d.title = $3::text OR d.title = $4::text) AND d.body = $5::text)`, []any{"a", "b", "c"}},
	}
	for _, c := range cases {
		f, err := Compile(c.in, Env{}, 3)
		require.NoError(t, err, c.in)
		require.Equal(t, c.sql, f.SQL, c.in)
		require.Equal(t, c.args, f.Args, c.in)
		require.False(t, f.Spatial, c.in)
	}
}

func TestCompileSpatial(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`S_INTERSECTS(geometry, BBOX(1,2,3,4))`:                   `ST_Intersects(d.geom, ST_GeomFromWKB($1::bytea, 4326))`,
		`S_WITHIN(geometry, POLYGON((0 0, 1 0, 1 1, 0 0)))`:       `ST_Within(d.geom, ST_GeomFromWKB($1::bytea, 4326))`,
		`S_WITHIN(POINT(1 2), geometry)`:                          `ST_Contains(d.geom, ST_GeomFromWKB($1::bytea, 4326))`,
		`S_DWITHIN(geometry, POINT(13.4 52.5), 1000)`:             `(ST_DWithin(d.geom, ST_GeomFromWKB($1::bytea, 4326), $2::float8) AND ST_DWithin(d.geom::geography, ST_GeomFromWKB($1::bytea, 4326)::geography, $3::float8))`,
		`S_INTERSECTS(geometry, BBOX(170,-10,-170,10))`:           `ST_Intersects(d.geom, ST_GeomFromWKB($1::bytea, 4326))`,
		`s_intersects(geom, MULTIPOINT((1 2), (3 4))) AND id = 1`: `(ST_Intersects(d.geom, ST_GeomFromWKB($1::bytea, 4326)) AND d.id = $2::bigint)`,
	} {
		f, err := Compile(in, Env{}, 1)
		require.NoError(t, err, in)
		require.Equal(t, want, f.SQL, in)
		require.IsType(t, []byte{}, f.Args[0], in)
		require.True(t, f.Spatial, in)
	}
	// S_DISJOINT cannot use the geometry's index.
	f, err := Compile(`S_DISJOINT(geometry, BBOX(1,2,3,4))`, Env{}, 1)
	require.NoError(t, err)
	require.Equal(t, `ST_Disjoint(d.geom, ST_GeomFromWKB($1::bytea, 4326))`, f.SQL)
	require.False(t, f.Spatial)
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	known := func(k string) bool { return k == "iso" || k == "camera" }
	cases := []struct {
		in  string
		pos int
		msg string
	}{
		{`nosuch = 1`, 0, "unknown property"},
		{`title = 1`, 8, "needs a string"},
		{`title =`, 7, "expected a property or a value"},
		{`title = 'x`, 8, "unterminated string"},
		{`(title = 'x'`, 12, `expected ")"`},
		{`title = 'x' AND`, 15, "expected a property"},
		{`title == 'x'`, 7, "expected a property or a value"},
		{`id = 1.5`, 5, "integer"},
		{`S_INTERSECTS(geometry, POINT(200 0))`, 23, "outside"},
		{`S_INTERSECTS(geometry, POINT(1))`, 23, "invalid POINT"},
		{`S_INTERSECTS(title, POINT(1 2))`, 13, "not a geometry"},
		{`S_DWITHIN(geometry, POINT(1 2), -5)`, 32, "distance"},
		{`T_INTERSECTS(datetime, INTERVAL('2024-02-01','2024-01-01'))`, 23, "ends before"},
		{`T_INTERSECTS(title, TIMESTAMP('2024-01-01T00:00:00Z'))`, 13, "not a temporal"},
		{`created > TIMESTAMP('yesterday')`, 20, "not a valid TIMESTAMP"},
		{`title LIKE 5`, 11, "string pattern"},
		{`title LIKE 'ab\'`, 11, "escape character"},
		{`tags LIKE 'a'`, 0, "LIKE applies"},
		{`id IN (1, 'a')`, 10, "one type"},
		{`title = 'a' ; DROP TABLE documents`, 12, "unexpected character"},
		{`title = 'a' OR 1=1 --`, 19, "unexpected character"},
		{`title = 'a' OR 1=1`, 15, "needs a property"},
		{`iso = 1 AND camera = 'x' AND lens = 'y'`, 29, "unknown property"},
		{`"title" = title`, 10, "two properties"},
		{strings.Repeat("(", 100) + "TRUE" + strings.Repeat(")", 100), 64, "nested"},
		{`NOT NOT NOT`, 11, "expected a property"},
	}
	for _, c := range cases {
		_, err := Compile(c.in, Env{PropKeys: known}, 1)
		var ce *Error
		require.True(t, errors.As(err, &ce), "%s: %v", c.in, err)
		require.Equal(t, c.pos, ce.Pos, "%s: %v", c.in, err)
		require.Contains(t, ce.Msg, c.msg, c.in)
	}
}

// TestInjection checks that quotes, comments and SQL in values and names end
// up in arguments or errors, never in the SQL text.
func TestInjection(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		`title = 'x''; DROP TABLE documents; --'`,
		`"x'); DROP TABLE documents; --" = 'a'`,
		`"props.a' OR '1'='1" = 'a'`,
		`title LIKE '%'' OR 1=1 --'`,
		`tags IN ('a''', 'b); DELETE FROM documents')`,
	} {
		f, err := Compile(in, Env{}, 1)
		if err != nil {
			continue
		}
		for _, bad := range []string{"DROP", "DELETE", "--", "1=1", "'1'"} {
			require.NotContains(t, f.SQL, bad, in)
		}
	}
}

func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		`title = 'a' AND (iso > 3 OR NOT tags IN ('x'))`,
		`S_DWITHIN(geometry, POINT(1 2), 100)`,
		`T_DURING(datetime, INTERVAL('..', '2024-01-01'))`,
		`S_INTERSECTS(geometry, POLYGON((0 0, 1 0, 1 1, 0 0)))`,
		`id BETWEEN 1 AND 2`, `lens IS NOT NULL`, `"a b" LIKE 'x%'`,
		`S_INTERSECTS(geometry, GEOMETRYCOLLECTION(GEOMETRYCOLLECTION(GEOMETRYCOLLECTION(GEOMETRYCOLLECTION(GEOMETRYCOLLECTION(POINT(1 2)))))))`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Compile(s, Env{}, 1)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || ce.Pos < 0 || ce.Pos > len(s) {
				t.Fatalf("%q: bad error %v", s, err)
			}
			return
		}
		// No quote character of the input may reach the SQL except the
		// fixed ones the compiler writes itself.
		clean := strings.NewReplacer("'number'", "", "'null'", "", "'[]'", "").Replace(c.SQL)
		if strings.ContainsAny(clean, `'";`) {
			t.Fatalf("%q: suspicious SQL %s", s, c.SQL)
		}
		if strings.Count(c.SQL, "$") < len(c.Args) {
			t.Fatalf("%q: %d args for %s", s, len(c.Args), c.SQL)
		}
	})
}
