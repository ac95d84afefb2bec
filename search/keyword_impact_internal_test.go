package search

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTsqueryLexeme(t *testing.T) {
	for in, want := range map[string]string{
		`'librari'`:   "librari",
		`'o''brien'`:  "o'brien",
		`'a\\b'`:      `a\b`,
		`'c++'`:       "c++",
		`'librari':*`: "",
		`'tea':AB`:    "",
		`'a' & 'b'`:   "",
		`''`:          "",
		`'a'b'`:       "",
		`'a\b'`:       "",
	} {
		got, ok := tsqueryLexeme(in)
		require.Equal(t, want != "", ok, in)
		require.Equal(t, want, got, in)
	}
}

func TestImpactRounds(t *testing.T) {
	rounds, lows := impactRounds("tea")
	require.Len(t, rounds, len(lows))
	seen := map[string]bool{}
	for _, r := range rounds {
		for _, tok := range r {
			require.False(t, seen[tok])
			seen[tok] = true
		}
	}
	require.Len(t, seen, len(impactTiers))
	require.Equal(t, impactFirstRound, lows[0])
	require.Equal(t, 20, lows[len(lows)-1])
	for i := 1; i < len(lows); i++ {
		require.Less(t, lows[i], lows[i-1])
	}
}
