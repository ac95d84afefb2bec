package search

import (
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/geoseek/geoseek/internal/problem"
)

func compile(t *testing.T, f Filter) (string, []any) {
	t.Helper()
	a := &Args{}
	return f.Compile(a), a.Values()
}

func TestFilterJSONCompiles(t *testing.T) {
	t.Parallel()
	t1 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	t2 := time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name, in, sql string
		args          []any
	}{
		{"tags all", `{"tags":{"all":["a","b"]}}`, `d.tags @> $1::text[]`, []any{[]string{"a", "b"}}},
		{"tags any", `{"tags":{"any":["a"]}}`, `d.tags && $1::text[]`, []any{[]string{"a"}}},
		{"tags within", `{"tags":{"within":["a","b"]}}`, `d.tags <@ $1::text[]`, []any{[]string{"a", "b"}}},
		{"has", `{"props":{"has":"k"}}`, `d.props ? $1::text`, []any{"k"}},
		{"has_any", `{"props":{"has_any":["k","l"]}}`, `d.props ?| $1::text[]`, []any{[]string{"k", "l"}}},
		{"has_all", `{"props":{"has_all":["k"]}}`, `d.props ?& $1::text[]`, []any{[]string{"k"}}},
		{"contains", `{"props":{"contains":{"a":{"b":1}}}}`, `d.props @> $1::jsonb`, []any{`{"a":{"b":1}}`}},
		{"eq string", `{"prop":"color == \"red\""}`, `d.props @> $1::jsonb`, []any{`{"color":"red"}`}},
		{"eq bare", `{"prop":"color==red"}`, `d.props @> $1::jsonb`, []any{`{"color":"red"}`}},
		{"ne", `{"prop":{"path":"a.b","op":"!=","value":true}}`, `NOT (d.props @> $1::jsonb)`, []any{`{"a":{"b":true}}`}},
		{"ge", `{"prop":"specs.memory >= 16"}`, `coalesce(jsonb_path_match(d.props, $1::jsonpath, $2::jsonb, true), false)`,
			[]any{`$."specs"."memory" >= $v`, `{"v":16}`}},
		{"lt string", `{"prop":{"path":"name","op":"<","value":"m"}}`, `coalesce(jsonb_path_match(d.props, $1::jsonpath, $2::jsonb, true), false)`,
			[]any{`$."name" < $v`, `{"v":"m"}`}},
		{"overlaps", `{"period":{"op":"overlaps","from":"2024-01-01","to":"2024-02-01T00:00:00Z","bounds":"[]"}}`,
			`d.period && tstzrange($1::timestamptz, $2::timestamptz, $3::text)`, []any{&t1, &t2, "[]"}},
		{"contains instant", `{"period":{"op":"contains","at":"2024-01-01T00:00:00Z"}}`, `d.period @> $1::timestamptz`, []any{t1}},
		{"within open", `{"period":{"op":"within","from":"2024-01-01"}}`,
			`d.period <@ tstzrange($1::timestamptz, $2::timestamptz, $3::text)`, []any{&t1, (*time.Time)(nil), "[)"}},
		{"before", `{"period":{"op":"before","from":"2024-01-01","to":"2024-02-01","bounds":"()"}}`,
			`d.period << tstzrange($1::timestamptz, $2::timestamptz, $3::text)`, []any{&t1, &t2, "()"}},
		{"after", `{"period":{"op":"after","to":"2024-02-01"}}`,
			`d.period >> tstzrange($1::timestamptz, $2::timestamptz, $3::text)`, []any{(*time.Time)(nil), &t2, "()"}},
		{"adjacent", `{"period":{"op":"adjacent","from":"2024-01-01","to":"2024-02-01"}}`,
			`d.period -|- tstzrange($1::timestamptz, $2::timestamptz, $3::text)`, []any{&t1, &t2, "[)"}},
		{"bbox", `{"bbox":[1,2,3,4]}`, `ST_Intersects(d.geom, ST_MakeEnvelope($1::float8, $2::float8, $3::float8, $4::float8, 4326))`,
			[]any{1.0, 2.0, 3.0, 4.0}},
		{"bbox antimeridian", `{"bbox":[170,-10,-170,10]}`,
			`(ST_Intersects(d.geom, ST_MakeEnvelope($1::float8, $2::float8, $3::float8, $4::float8, 4326)) OR ST_Intersects(d.geom, ST_MakeEnvelope($5::float8, $6::float8, $7::float8, $8::float8, 4326)))`,
			[]any{170.0, -10.0, 180.0, 10.0, -180.0, -10.0, -170.0, 10.0}},
		{"created", `{"created":{"from":"2024-01-01","to":"2024-02-01"}}`, `d.created_at >= $1::timestamptz AND d.created_at < $2::timestamptz`, []any{t1, t2}},
		{"updated open", `{"updated":{"to":"2024-02-01"}}`, `d.updated_at < $1::timestamptz`, []any{t2}},
		{"and or not", `{"and":[{"tags":{"all":["a"]}},{"or":[{"props":{"has":"x"}},{"not":{"props":{"has":"y"}}}]}]}`,
			`(d.tags @> $1::text[]) AND ((d.props ? $2::text) OR (NOT (d.props ? $3::text)))`, []any{[]string{"a"}, "x", "y"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := ParseFilterJSON("filter", []byte(tc.in))
			require.NoError(t, err)
			sql, args := compile(t, f)
			require.Equal(t, tc.sql, sql)
			require.Equal(t, tc.args, args)
		})
	}
}

func TestNearHasIndexPrefilter(t *testing.T) {
	t.Parallel()
	f, err := ParseFilterJSON("filter", []byte(`{"near":{"lon":13.4,"lat":52.5,"metres":1000}}`))
	require.NoError(t, err)
	sql, args := compile(t, f)
	require.True(t, strings.HasPrefix(sql, "ST_Intersects(d.geom, ST_MakeEnvelope("), sql)
	require.Contains(t, sql, "ST_DWithin(d.geom::geography, ST_SetSRID(ST_MakePoint($5::float8, $6::float8), 4326)::geography, $7::float8)")
	require.Equal(t, 1000.0, args[6])
	// The box contains every point within 1 km.
	b := f.(Near)
	box, ok := b.box()
	require.True(t, ok)
	require.Less(t, box.MinX, 13.4-1000/(111320*0.61))
	require.Greater(t, box.MaxY, 52.5+1000/111320.0)
	// Near a pole, no box.
	_, ok = Near{Lon: 0, Lat: 89.5, Metres: 100000}.box()
	require.False(t, ok)
}

func field(t *testing.T, err error) (string, int) {
	t.Helper()
	var ve *problem.ValidationError
	require.True(t, errors.As(err, &ve), "want a ValidationError, got %v", err)
	return ve.Field, ve.Pos
}

func TestFilterJSONErrors(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, field string }{
		{`{"tags":{"some":["a"]}}`, "filter.tags.some"},
		{`{"tags":{"all":["a"],"any":["b"]}}`, "filter.tags"},
		{`{"and":[]}`, "filter.and"},
		{`{"and":[{"nope":1}]}`, "filter.and[0]"},
		{`{"tags":{"all":["a","b\u0000"]}}`, "filter.tags.all[1]"},
		{`{"props":{"contains":[1]}}`, "filter.props.contains"},
		{`{"props":{"has_any":[]}}`, "filter.props.has_any"},
		{`{"prop":"specs..memory >= 1"}`, "filter.prop"},
		{`{"prop":"a >= true"}`, "filter.prop"},
		{`{"prop":"a =~ 1"}`, "filter.prop"},
		{`{"prop":{"path":"a","op":"<>","value":1}}`, "filter.prop.op"},
		{`{"period":{"op":"overlaps","from":"2024-02-01","to":"2024-01-01"}}`, "filter.period"},
		{`{"period":{"op":"overlaps","from":"yesterday"}}`, "filter.period.from"},
		{`{"period":{"op":"overlaps","bounds":"[["}}`, "filter.period.bounds"},
		{`{"period":{"op":"before","at":"2024-01-01"}}`, "filter.period.at"},
		{`{"period":{"op":"during"}}`, "filter.period.op"},
		{`{"period":{"op":"overlaps","lower":"2024-01-01"}}`, "filter.period.lower"},
		{`{"period":{"op":"overlaps","from":"2024-01-01","upper_inc":true}}`, "filter.period.upper_inc"},
		{`{"bbox":[1,2,3]}`, "filter.bbox"},
		{`{"bbox":[1,50,3,40]}`, "filter.bbox"},
		{`{"bbox":[-200,0,0,1]}`, "filter.bbox"},
		{`{"near":{"lon":1,"lat":95,"metres":1}}`, "filter.near"},
		{`{"near":{"lon":1,"lat":5,"metres":-1}}`, "filter.near.metres"},
		{`{"intersects":{"type":"Polygon","coordinates":[[[0,0],[1,0],[0,0]]]}}`, "filter.intersects"},
		{`{"intersects":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,2]]]}}`, "filter.intersects"},
		{`{"intersects":{"type":"Point","coordinates":[500,0]}}`, "filter.intersects"},
		{`{"intersects":{"type":"Blob"}}`, "filter.intersects"},
		{`{"created":{}}`, "filter.created"},
		{`{"created":{"from":"2024-01-01"},"x":1}`, "filter"},
		{`[1]`, "filter"},
		{`{"tags":{"all":["a"]}} x`, "filter"},
		{`{"tags":{"all":["a"]}}]`, "filter"},
		{`{"tags":{"all":["a"]}}}`, "filter"},
	}
	for _, tc := range cases {
		_, err := ParseFilterJSON("filter", []byte(tc.in))
		require.Error(t, err, tc.in)
		f, _ := field(t, err)
		require.Equal(t, tc.field, f, "%s: %v", tc.in, err)
	}
	// Depth and size limits.
	deep := strings.Repeat(`{"not":`, MaxFilterDepth+2) + `{"props":{"has":"a"}}` + strings.Repeat("}", MaxFilterDepth+2)
	_, err := ParseFilterJSON("filter", []byte(deep))
	require.ErrorContains(t, err, "deeper")
	wide := `{"or":[` + strings.Repeat(`{"props":{"has":"a"}},`, MaxFilterNodes) + `{"props":{"has":"a"}}]}`
	_, err = ParseFilterJSON("filter", []byte(wide))
	require.ErrorContains(t, err, "more than")
}

func TestConditionPositions(t *testing.T) {
	t.Parallel()
	_, err := ParseCondition("prop", "  a.b.!x >= 1")
	_, pos := field(t, err)
	require.Equal(t, 6, pos)
	_, err = ParseCondition("prop", "a =< 1")
	_, pos = field(t, err)
	require.Equal(t, 2, pos)
	_, err = ParseCondition("prop", "a >= ")
	_, pos = field(t, err)
	require.Equal(t, 4, pos)
}

func TestParseValues(t *testing.T) {
	t.Parallel()
	v := url.Values{
		"collection": {"docs"}, "q": {"red apple"}, "lang": {"english"}, "limit": {"5"},
		"tags": {"a,b"}, "prop": {"price < 10", "color == red"}, "bbox": {"0,0,10,10"},
		"period_contains": {"2024-01-01"}, "created": {"2024-01-01/.."}, "facets": {"tags,props.color"},
		"sort": {"-created"}, "f": {"geojson"},
	}
	q, err := ParseValues(v)
	require.NoError(t, err)
	require.Equal(t, "docs", q.Collection)
	require.Equal(t, 5, q.Limit)
	require.Equal(t, Sort{Key: SortCreated, Desc: true}, q.Sort)
	require.Equal(t, FormatGeoJSON, q.Format)
	require.True(t, q.Facets.Tags)
	require.Equal(t, [][]string{{"color"}}, q.Facets.Props)
	and, ok := q.Filter.(And)
	require.True(t, ok)
	// sorted parameter names: bbox, created, period_contains, prop(2), tags
	require.Len(t, and, 6)
	require.IsType(t, BBox{}, and[0])
	require.IsType(t, Window{}, and[1])
	require.IsType(t, Period{}, and[2])
	require.IsType(t, Tags{}, and[5])

	q, err = ParseValues(url.Values{"collection": {"docs"}, "q": {"x"}})
	require.NoError(t, err)
	require.Equal(t, SortRelevance, q.Sort.Key)
	q, err = ParseValues(url.Values{"collection": {"docs"}})
	require.NoError(t, err)
	require.Equal(t, SortID, q.Sort.Key)

	bad := []struct {
		v     url.Values
		field string
	}{
		{url.Values{}, "collection"},
		{url.Values{"collection": {"Docs;drop"}}, "collection"},
		{url.Values{"collection": {"d"}, "limit": {"0"}}, "limit"},
		{url.Values{"collection": {"d"}, "limit": {"x"}}, "limit"},
		{url.Values{"collection": {"d"}, "bogus": {"1"}}, "bogus"},
		{url.Values{"collection": {"d"}, "q": {"a", "b"}}, "q"},
		{url.Values{"collection": {"d"}, "sort": {"relevance"}}, "sort"},
		{url.Values{"collection": {"d"}, "sort": {"distance"}}, "sort"},
		{url.Values{"collection": {"d"}, "sort": {"title; drop table x"}}, "sort"},
		{url.Values{"collection": {"d"}, "sort": {"props.a b"}}, "sort"},
		{url.Values{"collection": {"d"}, "lang": {"english'); drop"}}, "lang"},
		{url.Values{"collection": {"d"}, "mode": {"magic"}}, "mode"},
		{url.Values{"collection": {"d"}, "f": {"xml"}}, "f"},
		{url.Values{"collection": {"d"}, "point": {"1,x"}}, "point"},
		{url.Values{"collection": {"d"}, "near": {"1,2"}}, "near"},
		{url.Values{"collection": {"d"}, "period_overlaps": {"[2024-01-01,2024-02-01"}}, "period_overlaps"},
		{url.Values{"collection": {"d"}, "created": {"2024-01-01"}}, "created"},
		{url.Values{"collection": {"d"}, "facets": {"colour"}}, "facets"},
		{url.Values{"collection": {"d"}, "props": {`{"a":`}}, "props"},
		{url.Values{"collection": {"d"}, "semantic_ratio": {"2"}}, "semantic_ratio"},
		{url.Values{"collection": {"d"}, "vector": {"[1,null]"}}, "vector[1]"},
		{url.Values{"collection": {"d"}, "q": {strings.Repeat("x", MaxTextLen+1)}}, "q"},
	}
	for _, tc := range bad {
		_, err := ParseValues(tc.v)
		require.Error(t, err, "%v", tc.v)
		f, _ := field(t, err)
		require.Equal(t, tc.field, f, "%v: %v", tc.v, err)
	}
}

func TestParsePeriodText(t *testing.T) {
	t.Parallel()
	f, err := ParsePeriodText("p", PeriodOverlaps, "(2024-01-01,]")
	require.NoError(t, err)
	p := f.(Period)
	require.False(t, p.Range.LowerInc)
	require.Nil(t, p.Range.Upper)
	require.Equal(t, "()", p.Range.Bounds()) // unbounded ends are exclusive
	f, err = ParsePeriodText("p", PeriodWithin, "2024-01-01/2024-03-01")
	require.NoError(t, err)
	require.Equal(t, "[]", f.(Period).Range.Bounds())
	f, err = ParsePeriodText("p", PeriodContains, "2024-01-01T10:00:00+02:00")
	require.NoError(t, err)
	require.Equal(t, time.Date(2024, 1, 1, 8, 0, 0, 0, time.UTC), *f.(Period).Instant)
}

func TestParseBody(t *testing.T) {
	t.Parallel()
	q, err := ParseBody([]byte(`{"collection":"docs","q":"tea","prefix":true,"limit":3,
		"filter":{"and":[{"tags":{"any":["x"]}},{"near":{"lon":1,"lat":2,"metres":500}}]},
		"sort":"distance","point":[1,2],"facets":{"tags":true,"props":["brand"],"limit":5},"highlight":false}`))
	require.NoError(t, err)
	require.True(t, q.Prefix)
	require.Equal(t, 3, q.Limit)
	require.Equal(t, SortDistance, q.Sort.Key)
	require.Equal(t, &[2]float64{1, 2}, q.Point)
	require.Equal(t, 5, q.Facets.Limit)
	require.False(t, q.Highlight)
	require.IsType(t, And{}, q.Filter)

	for in, want := range map[string]string{
		`{"collection":"docs","limt":3}`:                    "body",
		`{"collection":"docs","limit":"3"}`:                 "body.limit",
		`{"collection":"docs","filter":{"tags":{"all":1}}}`: "filter.tags",
		`{"collection":"docs","point":[1]}`:                 "point",
		`{"collection":"docs","facets":{"props":["a..b"]}}`: "facets.props[0]",
		`{"collection":"docs","vector":[1e39]}`:             "vector[0]",
		`{"collection":"docs","semantic_ratio":-0.5}`:       "semantic_ratio",
		`{"collection":"docs"`:                              "body",
		`{"collection":"docs","sort":"-relevance","q":"x"}`: "sort",
	} {
		_, err := ParseBody([]byte(in))
		require.Error(t, err, in)
		f, _ := field(t, err)
		require.Equal(t, want, f, "%s: %v", in, err)
	}
}

func TestSplitLastWord(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in, head, word string
		or, ok         bool
	}{
		{"red app", "red ", "app", false, true},
		{"app", "", "app", false, true},
		{"red app ", "", "", false, false},
		{`"red app`, "", "", false, false},
		{"red -app", "", "", false, false},
		{"red or app", "red ", "app", true, true},
		{"color ORapp", "color ", "ORapp", false, true},
		{"größe straß", "größe ", "straß", false, true},
	}
	for _, tc := range cases {
		head, word, or, ok := splitLastWord(tc.in)
		require.Equal(t, []any{tc.head, tc.word, tc.or, tc.ok}, []any{head, word, or, ok}, tc.in)
	}
	require.Equal(t, `'it\'s':*`, prefixTerm("it's"))
}

// Injection attempts in every field must either be rejected or travel as a
// bound value: the compiled SQL never contains the attacker's text.
func TestInjectionNeverReachesSQL(t *testing.T) {
	t.Parallel()
	evil := []string{`'; DROP TABLE documents; --`, `") OR 1=1 --`, `$1`, `\'; SELECT pg_sleep(10); --`, `a'::text) OR (TRUE`}
	for _, e := range evil {
		js := func(s string) string { b, _ := jsonMarshal(s); return string(b) }
		inputs := []string{
			`{"tags":{"all":[` + js(e) + `]}}`,
			`{"props":{"has":` + js(e) + `}}`,
			`{"props":{"has_any":[` + js(e) + `]}}`,
			`{"props":{"contains":{` + js(e) + `:` + js(e) + `}}}`,
			`{"prop":{"path":"a","op":"==","value":` + js(e) + `}}`,
			`{"prop":{"path":"a","op":"<","value":` + js(e) + `}}`,
			`{"prop":{"path":` + js(e) + `,"op":"<","value":1}}`,
			`{"period":{"op":"overlaps","from":` + js(e) + `}}`,
			`{"period":{"op":"overlaps","bounds":` + js(e) + `}}`,
			`{"period":{"op":` + js(e) + `}}`,
			`{"created":{"from":` + js(e) + `}}`,
			`{"intersects":` + js(e) + `}`,
		}
		for _, in := range inputs {
			f, err := ParseFilterJSON("filter", []byte(in))
			if err != nil {
				field(t, err) // a validation error, not something else
				continue
			}
			sql, _ := compile(t, f)
			if e != "$1" {
				require.NotContains(t, sql, e, in)
			}
			require.NotContains(t, sql, "DROP", in)
			require.NotContains(t, sql, "pg_sleep", in)
		}
		for _, k := range []string{"collection", "lang", "sort", "mode", "f", "facets", "cursor"} {
			v := url.Values{"collection": {"d"}}
			v.Set(k, e)
			if _, err := ParseValues(v); err != nil {
				field(t, err)
			} else {
				require.Equal(t, "cursor", k, "only the cursor is accepted syntactically before the service checks it")
			}
		}
	}
}

func TestCursorTamperEvident(t *testing.T) {
	t.Parallel()
	secret := []byte("k")
	q := &Query{Collection: "d", Text: "x", Sort: Sort{Key: SortRelevance, Desc: true}}
	tok := encodeCursor(secret, cursor{Hash: q.hash(), Key: []byte("0.5"), ID: 7})
	c, err := decodeCursor(secret, tok, q.hash())
	require.NoError(t, err)
	require.Equal(t, int64(7), c.ID)
	_, err = decodeCursor([]byte("other"), tok, q.hash())
	require.ErrorContains(t, err, "not issued")
	q2 := *q
	q2.Text = "y"
	_, err = decodeCursor(secret, tok, q2.hash())
	require.ErrorContains(t, err, "different query")
	bad := []byte(tok)
	bad[3] ^= 1
	_, err = decodeCursor(secret, string(bad), q.hash())
	require.Error(t, err)
	for _, s := range []string{"", ".", "x.y", "!!.!!"} {
		_, err = decodeCursor(secret, s, q.hash())
		require.Error(t, err, s)
	}
}

func TestFilterHashDistinguishesValues(t *testing.T) {
	t.Parallel()
	a := &Query{Collection: "d", Filter: Tags{Op: TagsAll, Values: []string{"a"}}}
	b := &Query{Collection: "d", Filter: Tags{Op: TagsAll, Values: []string{"b"}}}
	require.NotEqual(t, a.hash(), b.hash())
	require.False(t, reflect.DeepEqual(a.hash(), b.hash()))
}

func FuzzParseFilterJSON(f *testing.F) {
	for _, s := range []string{
		`{"and":[{"tags":{"all":["a"]}},{"not":{"props":{"has":"x"}}}]}`,
		`{"prop":"specs.memory >= 16"}`,
		`{"period":{"op":"overlaps","from":"2024-01-01","to":"2024-02-01","bounds":"[]"}}`,
		`{"near":{"lon":1,"lat":2,"metres":3}}`,
		`{"intersects":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}}`,
		`{"bbox":[170,-10,-170,10]}`,
		`{"intersects":{"type":"GeometryCollection","geometries":[{"type":"GeometryCollection","geometries":[{"type":"GeometryCollection","geometries":[{"type":"GeometryCollection","geometries":[{"type":"GeometryCollection","geometries":[{"type":"Point","coordinates":[1,2]}]}]}]}]}]}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := ParseFilterJSON("filter", []byte(s))
		if err != nil {
			var ve *problem.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("non-validation error %T: %v", err, err)
			}
			return
		}
		a := &Args{}
		sql := flt.Compile(a)
		if strings.Count(sql, "$") < a.Len() {
			t.Fatalf("placeholders missing: %s", sql)
		}
	})
}

func FuzzParseValues(f *testing.F) {
	for _, s := range []string{
		"collection=d&q=red+app&prefix=true&tags=a,b&prop=price<10",
		"collection=d&period_overlaps=[2024-01-01,2024-02-01)&bbox=0,0,1,1&near=1,2,300&sort=-props.price",
		"collection=d&created=2024-01-01/..&facets=tags,props.color&f=geojson&point=1,2&sort=distance",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := url.ParseQuery(s)
		if err != nil {
			return
		}
		q, err := ParseValues(v)
		if err != nil {
			var ve *problem.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("non-validation error %T: %v", err, err)
			}
			return
		}
		if q.Limit < 1 || q.Limit > MaxLimit || q.Collection == "" {
			t.Fatalf("invalid query accepted: %+v", q)
		}
		if q.Filter != nil {
			q.Filter.Compile(&Args{})
		}
		_ = q.hash()
	})
}

func jsonMarshal(s string) ([]byte, error) { return json.Marshal(s) }
