package search

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTSQueryTerms(t *testing.T) {
	for _, tc := range []struct {
		in     string
		want   []string
		phrase bool
		ok     bool
	}{
		{"'python' & 'librari'", []string{"python", "librari"}, false, true},
		{"'python' & ( 'librari' | 'modul' )", []string{"python", "librari", "modul"}, false, true},
		{"'share' <-> 'librari'", []string{"share", "librari"}, true, true},
		{"'develop' <-> 'file' <2> 'x'", []string{"develop", "file", "x"}, true, true},
		{"'zinc' <-> 'zinc'", []string{"zinc"}, false, true},        // repeated word: not a phrase of distinct words
		{"'librari' & !'python'", []string{"librari"}, false, true}, // python is in no match
		{"'librari' | !'python'", []string{"librari", "python"}, false, true},
		{"'python' & 'librari' & !'python'", []string{"python", "librari"}, false, true},
		{"!'python'", nil, false, false},
		{"'a' & !( 'b' <-> 'c' )", []string{"a", "b", "c"}, false, true},
		{"'o''brien' & 'x'", []string{"o'brien", "x"}, false, true},
		{"'pyth':* & 'x'", nil, false, false},
		{"'x':AB & 'y'", nil, false, false},
		{"'unterminated", nil, false, false},
	} {
		got, ok := tsqueryTerms(tc.in)
		require.Equal(t, tc.ok, ok, tc.in)
		if ok {
			require.Equal(t, tc.want, got.lexemes, tc.in)
			require.Equal(t, tc.phrase, got.phrase, tc.in)
		}
	}
}

func TestPairPhrase(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"'share' <-> 'librari'", true},
		{"'o''brien' <-> 'x'", true},
		{`'a\\b' <-> 'x'`, true},
		{"'share' <2> 'librari'", false},
		{"'zinc' <-> 'zinc'", false},
		{"'a' <-> 'b' <-> 'c'", true},
		{"'a' <-> 'b' <-> 'c' <-> 'd'", true},
		{"'a' <-> 'b' <-> 'a'", false},
		{"'a' <-> 'b' <2> 'c'", false},
		{"'a' <2> 'b' <-> 'c'", false},
		{"'a' & 'b'", false},
		{"'a' <-> 'b' & 'c'", false},
		{"!( 'a' <-> 'b' )", false},
	} {
		terms, ok := tsqueryTerms(tc.in)
		require.Equal(t, tc.want, ok && pairPhrase(tc.in, terms), tc.in)
	}
}
