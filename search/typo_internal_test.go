package search

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestOSADistance(t *testing.T) {
	t.Parallel()
	cases := []struct {
		a, b string
		want int
	}{
		{"museum", "museum", 0},
		{"musuem", "museum", 1}, // transposition
		{"capuccino", "cappuccino", 1},
		{"marathin", "marathon", 1},
		{"kitten", "sitting", 3},
		{"häuser", "hauser", 1},
		{"ca", "abc", 3}, // OSA, not unrestricted Damerau (2)
		{"", "abc", 3},
	}
	for _, c := range cases {
		require.Equal(t, c.want, osaDistance(c.a, c.b, 5), "%s/%s", c.a, c.b)
		require.Equal(t, c.want, osaDistance(c.b, c.a, 5), "%s/%s", c.b, c.a)
		if c.want > 1 {
			require.Equal(t, 2, osaDistance(c.a, c.b, 1), "early exit %s/%s", c.a, c.b)
		}
	}
}

func TestTypoBudget(t *testing.T) {
	t.Parallel()
	for w, k := range map[string]int{"dog": 0, "pint": 0, "paint": 1, "musuem": 1, "marathin": 1, "capuccino": 2, "häuserxyz": 2, "x8664abc": 0, "2024": 0} {
		require.Equal(t, k, typoBudget(w), w)
	}
}

// TestTrigramFloorKeepsEveryCandidate checks the bound of trigramFloor with
// pg_trgm's similarity computed here the same way: every word one
// transposition, substitution, insertion or deletion away stays at or above
// the floor, and from 9 letters every word two edits away of which at most
// one is a transposition.
func TestTrigramFloorKeepsEveryCandidate(t *testing.T) {
	t.Parallel()
	trgms := func(w string) map[string]bool {
		p := []rune("  " + w + " ")
		out := map[string]bool{}
		for i := 0; i+3 <= len(p); i++ {
			out[string(p[i:i+3])] = true
		}
		return out
	}
	sim := func(a, b string) float64 {
		ta, tb := trgms(a), trgms(b)
		shared := 0
		for g := range ta {
			if tb[g] {
				shared++
			}
		}
		return float64(shared) / float64(len(ta)+len(tb)-shared)
	}
	// edits returns the words one edit from w: substitutions, insertions
	// and deletions, then transpositions.
	edits := func(w string) (plain, swaps []string) {
		r := []rune(w)
		for i := range r {
			plain = append(plain, string(append(append([]rune{}, r[:i]...), r[i+1:]...)))              // delete
			plain = append(plain, string(append(append(append([]rune{}, r[:i]...), 'q'), r[i+1:]...))) // substitute
			plain = append(plain, string(append(append(append([]rune{}, r[:i]...), 'q'), r[i:]...)))   // insert
			if i+1 < len(r) {
				s := append([]rune{}, r...)
				s[i], s[i+1] = s[i+1], s[i]
				swaps = append(swaps, string(s))
			}
		}
		plain = append(plain, w+"q")
		return plain, swaps
	}
	for _, w := range []string{"abcde", "abcdef", "abcdefgh", "abcdefghi", "abcdefghijkl", "mississippi", "aaaaaa", "harmonika"} {
		k := typoBudget(w)
		floor := trigramFloor(len(w), k)
		plain, swaps := edits(w)
		cands := append(append([]string{}, plain...), swaps...)
		if k == 2 { // two edits, at most one a transposition
			for _, e := range plain {
				p, s := edits(e)
				cands = append(append(cands, p...), s...)
			}
			for _, e := range swaps {
				p, _ := edits(e)
				cands = append(cands, p...)
			}
		}
		for _, c := range cands {
			if osaDistance(w, c, k) > k || c == w {
				continue
			}
			require.GreaterOrEqual(t, sim(w, c), floor, "%s -> %s", w, c)
		}
	}
}

func TestRewriteTSQuery(t *testing.T) {
	t.Parallel()
	alts := map[string][]string{"musuem": {"museum"}, "modren": {"modern"}, "capuccino": {"cappuccino", "capuccini"}, "it's": {"its"}}
	cases := []struct {
		in, want string
		words    []string
	}{
		{`'musuem'`, `( 'musuem' | 'museum' )`, []string{"musuem"}},
		{`'art' <-> 'musuem' & !'modren'`, `'art' <-> ( 'musuem' | 'museum' ) & ! 'modren'`, []string{"musuem"}},
		{`!( 'art' <-> 'musuem' ) & 'capuccino'`, `! ( 'art' <-> 'musuem' ) & ( 'capuccino' | 'cappuccino' | 'capuccini' )`, []string{"capuccino"}},
		{`'musuem' | 'capuccino'`, `( 'musuem' | 'museum' ) | ( 'capuccino' | 'cappuccino' | 'capuccini' )`, []string{"musuem", "capuccino"}},
		{`'art' & 'musuem':*`, `'art' & 'musuem':*`, nil},
		{`'musuem':AB <2> 'x'`, `( 'musuem':AB | 'museum':AB ) <2> 'x'`, []string{"musuem"}},
		{`'it''s' & 'a\\b'`, `'it''s' & 'a\\b'`, nil},
	}
	for _, c := range cases {
		toks, err := tsqTokens(c.in)
		require.NoError(t, err, c.in)
		require.Equal(t, c.words, correctable(toks), c.in)
		require.Equal(t, c.want, rewriteTSQuery(toks, alts), c.in)
	}
	for _, bad := range []string{`'open`, `( 'a'`, `'a' )`, `'a' <x> 'b'`, `a`} {
		_, err := tsqTokens(bad)
		require.Error(t, err, bad)
	}
	toks, err := tsqTokens(`'it''s' & 'a\\b'`)
	require.NoError(t, err)
	require.Equal(t, "it's", toks[0].lexeme)
	require.Equal(t, `a\b`, toks[2].lexeme)
	require.Equal(t, `'it''s'`, quoteLexeme("it's"))
	require.Equal(t, `'a\\b'`, quoteLexeme(`a\b`))
}

func TestTypedWords(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{"musuem", "capuccino", "häuser"}, typedWords(`"art Musuem" -dog capuccino or Häuser musuem`))
}

// FuzzTSQTokens: any text is split or refused, never a panic, and a split
// text rewritten with corrections of each eligible word splits again into
// the same literals plus the alternatives.
func FuzzTSQTokens(f *testing.F) {
	for _, s := range []string{`'art' <-> 'musuem' & !'modren'`, `!( 'a' <-> 'b' ) | 'capuccino':*`, `'it''s' & 'a\\b':AB <3> 'x'`, `'`, `(`, `<`, `'a' <9999999999999999999> 'b'`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		toks, err := tsqTokens(s)
		if err != nil {
			return
		}
		alts := map[string][]string{}
		for _, w := range correctable(toks) {
			alts[w] = []string{w + "x", "q'\\" + w}
		}
		out := rewriteTSQuery(toks, alts)
		again, err := tsqTokens(out)
		if err != nil {
			t.Fatalf("rewrite of %q is not a tsquery: %q: %v", s, out, err)
		}
		n := 0
		for _, tk := range toks {
			if tk.literal {
				n += 1 + len(alts[tk.lexeme])*boolInt(tk.eligible())
			}
		}
		m := 0
		for _, tk := range again {
			if tk.literal {
				m++
			}
		}
		if n != m {
			t.Fatalf("%q -> %q: %d literals, want %d", s, out, m, n)
		}
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
