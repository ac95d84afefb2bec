package geo

import (
	"errors"
	"io"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCollectionReader(t *testing.T) {
	t.Parallel()
	next, done := collectionReader(strings.NewReader(`{"bbox":[0,0,1,1],"features":[{"a":1},{"b":2}],"type":"FeatureCollection"}`))
	var got []string
	for {
		raw, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		got = append(got, string(raw))
	}
	require.Equal(t, []string{`{"a":1}`, `{"b":2}`}, got)
	require.NoError(t, done())

	for _, bad := range []string{
		`{"type":"Feature","features":[]}`,
		`{"features":[]}`,
		`{"features":[]} {}`,
		`[1]`,
		`{"type":"FeatureCollection"}`,
		`{"type":"FeatureCollection","features":{}}`,
		`{"type":"FeatureCollection","features":[{"a":`,
	} {
		next, done := collectionReader(strings.NewReader(bad))
		var err error
		for err == nil {
			_, err = next()
		}
		if errors.Is(err, io.EOF) {
			err = done()
		}
		require.Error(t, err, bad)
	}
}

func TestTopLevelKind(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{
		`{"type":"FeatureCollection","features":[]}`: true,
		`{"features":[`: true,
		`{"bbox":[1,2,3,4],"type":"FeatureCollection"`: true,
		`{"type":"Feature","geometry":null}`:           false,
		`{"id":"x","geometry":`:                        false,
	} {
		got, ok := topLevelKind([]byte(in))
		require.True(t, ok, in)
		require.Equal(t, want, got, in)
	}
	_, ok := topLevelKind([]byte(`{"id":"x"`))
	require.False(t, ok)
}

func FuzzFeatureDoc(f *testing.F) {
	for _, s := range []string{
		`{"type":"Feature","id":7,"geometry":{"type":"Point","coordinates":[1,2]},"properties":{"title":"a","tags":["x"],"datetime":"2024-01-01T00:00:00Z"}}`,
		`{"type":"Feature","geometry":null,"properties":{"start":"2024-01-01","end":null,"k":{"n":[1]}}}`,
		`{"type":"Feature","geometry":{"type":"GeometryCollection","geometries":[]},"properties":null}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := FeatureDoc("feature", "c", []byte(s), FeatureOptions{})
		if err != nil {
			return
		}
		if d.Geometry != nil && d.Geometry.SRID() != SRID {
			t.Fatalf("%q: SRID %d", s, d.Geometry.SRID())
		}
		if p := d.Period; p != nil && p.Lower != nil && p.Upper != nil && p.Upper.Before(*p.Lower) {
			t.Fatalf("%q: reversed period", s)
		}
	})
}

func FuzzCollectionReader(f *testing.F) {
	for _, s := range []string{`{"type":"FeatureCollection","features":[{},{}]}`, `{"features":[1,2],"x":{}}`, `{`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		next, done := collectionReader(strings.NewReader(s))
		for range 1000 {
			_, err := next()
			if errors.Is(err, io.EOF) {
				_ = done()
				return
			}
			if err != nil {
				return
			}
		}
	})
}

func FuzzParseItemsQuery(f *testing.F) {
	for _, s := range []string{"bbox=1,2,3,4&limit=5", "datetime=../2024-01-01&sortby=-title", "cursor=e30&f=json", "filter=a%3D1&x=y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := url.ParseQuery(s)
		if err != nil {
			return
		}
		q, err := parseItemsQuery("c", v)
		if err != nil {
			return
		}
		if q.Limit < 1 || q.Limit > MaxLimit {
			t.Fatalf("%q: limit %d", s, q.Limit)
		}
	})
}
