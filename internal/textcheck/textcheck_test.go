package textcheck_test

import (
	"bytes"
	"errors"
	"io"
	"net/url"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"

	"github.com/geoseek/geoseek/internal/problem"
	"github.com/geoseek/geoseek/internal/textcheck"
)

func TestReader(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   string
		pos  int // -1: valid
	}{
		{"ascii", `{"title":"plain"}`, -1},
		{"multibyte", `{"title":"Zürich 東京 😀"}`, -1},
		{"empty", ``, -1},
		{"lone continuation", "ab\x80cd", 2},
		{"ff", `{"t":"` + "\xff" + `"}`, 6},
		{"overlong", "x\xc0\xafy", 1},
		{"surrogate half encoded", "x\xed\xa0\x80", 1},
		{"cut at end", "abc\xe6\x9d", 3},
		{"invalid after many bytes", string(bytes.Repeat([]byte("é"), 40000)) + "\xfe", 80000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// One byte at a time splits every character between reads.
			for _, r := range []io.Reader{bytes.NewReader([]byte(tc.in)), iotest.OneByteReader(bytes.NewReader([]byte(tc.in)))} {
				got, err := io.ReadAll(textcheck.NewReader(r, "body"))
				if tc.pos < 0 {
					if err != nil || string(got) != tc.in {
						t.Fatalf("valid input: %v, %d of %d bytes", err, len(got), len(tc.in))
					}
					continue
				}
				var ve *problem.ValidationError
				if !errors.As(err, &ve) || ve.Pos != tc.pos || ve.Field != "body" {
					t.Fatalf("got %v (%d bytes); want a validation error at %d", err, len(got), tc.pos)
				}
				if string(got) != tc.in[:tc.pos] {
					t.Fatalf("passed %d bytes before the error; want %d", len(got), tc.pos)
				}
			}
		})
	}
}

func TestQuery(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		raw string
		ok  bool
	}{
		{"/search?q=caf%C3%A9", true},
		{"/search?q=%FF", false},
		{"/search?q=a%00b", false},
		{"/search?%FF=1", false},
		{"/collections/%00", false},
		{"/collections/%C3%28", false},
		{"/collections/docs", true},
	} {
		u, err := url.Parse(tc.raw)
		if err != nil {
			t.Fatal(err)
		}
		err = textcheck.Query(u)
		var ve *problem.ValidationError
		if tc.ok != (err == nil) || (err != nil && !errors.As(err, &ve)) {
			t.Errorf("%s: %v", tc.raw, err)
		}
	}
}

func FuzzReader(f *testing.F) {
	f.Add([]byte(`{"a":"Zürich"}`), 3)
	f.Add([]byte("a\xffb"), 1)
	f.Fuzz(func(t *testing.T, b []byte, chunk int) {
		var r io.Reader = bytes.NewReader(b)
		if chunk%3 == 0 {
			r = iotest.OneByteReader(r)
		}
		got, err := io.ReadAll(textcheck.NewReader(r, "body"))
		if err == nil && !bytes.Equal(got, b) {
			t.Fatalf("valid input changed")
		}
		if (err == nil) != utf8Valid(b) {
			t.Fatalf("err %v for valid=%v", err, utf8Valid(b))
		}
	})
}

func utf8Valid(b []byte) bool { return utf8.Valid(b) }

// TestJSONReaderSurrogates: a \u escape of half a surrogate pair would be
// replaced with U+FFFD by encoding/json; the JSON reader refuses it at the
// escape's offset, however the text is split between reads.
func TestJSONReaderSurrogates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in  string
		pos int // -1: valid
	}{
		{`{"t":"\ud83d\ude00"}`, -1},
		{`{"t":"\uD83D\uDE00 and \u00e9"}`, -1},
		{`{"t":"\\ud800"}`, -1},
		{`{"t":"\\\ud83d\ude00"}`, -1},
		{`{"t":"\ud800"}`, 6},
		{`{"t":"\udc00"}`, 6},
		{`{"t":"a\ud800\u0041"}`, 7},
		{`{"t":"\ud800\n"}`, 6},
		{`{"t":"\\\ud800"}`, 8},
		{`["\ude00\ud83d"]`, 2},
		{`"\ud83d`, 1},
	} {
		for _, r := range []io.Reader{strings.NewReader(tc.in), iotest.OneByteReader(strings.NewReader(tc.in))} {
			_, err := io.ReadAll(textcheck.NewJSONReader(r, "body"))
			var ve *problem.ValidationError
			switch {
			case tc.pos < 0 && err != nil:
				t.Errorf("%s: %v", tc.in, err)
			case tc.pos >= 0 && (!errors.As(err, &ve) || ve.Pos != tc.pos):
				t.Errorf("%s: %v; want a refusal at %d", tc.in, err, tc.pos)
			}
		}
	}
}
