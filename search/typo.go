package search

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/geoseek/geoseek/internal/pg"
)

// Typo tolerance.
//
// A query word may match the words of the collection within one edit (an
// insertion, deletion, substitution or transposition of two neighbouring
// letters) when it has 5 letters or more, within two edits from 9 letters.
// Words are compared as the search index stores them, after stemming in the
// query's language (so "musuems" is the stem "musuem", one transposition
// from "museum"), and lengths are counted on those stems. Words with digits
// are never corrected.
//
// Which words are corrected: a word missing from the collection's word list
// (search_words, migration 00046) cannot match anything as typed, so it is
// always corrected. When the query as written (with those corrections) finds
// nothing on its first page, every eligible word is corrected and the query
// runs once more: a misspelling that some document shares ("capuccino" in
// one document) then finds the documents with the right spelling. A word
// that is in the list and finds something is taken as typed, so common
// words keep their exact (and fast) ranking.
//
// How: the query's tsquery (websearch_to_tsquery's output, the same query
// the search runs) is rewritten, so phrases, "or" and negation keep their
// meaning: a corrected word 'w' becomes ( 'w' | 'c1' | 'c2' ), also inside a
// phrase ('art' <-> ( 'musuem' | 'museum' )). Negated words and prefix
// terms are never corrected. Candidates come from the word list's trigram
// index with a similarity threshold low enough to keep every word within one
// edit, and within two edits unless both are transpositions (see
// trigramFloor), and are then checked exactly here (osaDistance).
//
// Ranking: a hit matching the query as typed keeps its score; a hit found
// only through a corrected word scores its ts_rank_cd minus 1 (from -1 to
// 0), so it ranks after every hit that matches the words as typed.

// Correction says that a query word also matched other words.
type Correction struct {
	// Word is the query word as typed (lower-cased), or its stem when the
	// stem could not be traced back to one typed word.
	Word string `json:"word"`
	// Used are the words of the collection it also matched, as the index
	// stores them (stems), closest first.
	Used []string `json:"used"`
}

// MaxCorrections is how many words one query word may also match.
const MaxCorrections = 5

// typoPlan is a query rewritten with corrections.
type typoPlan struct {
	orig  string // the tsquery as typed, in text form
	query string // the rewritten tsquery, in text form
	fixes []Correction
	all   bool // every eligible word was corrected, not only missing ones
}

// typoBudget is the number of edits a (stemmed) query word may be from a
// corpus word: 0 below 5 letters and for words with digits.
func typoBudget(w string) int {
	n := 0
	for _, r := range w {
		if unicode.IsDigit(r) {
			return 0
		}
		n++
	}
	switch {
	case n >= 9:
		return 2
	case n >= 5:
		return 1
	}
	return 0
}

// trigramFloor is the pg_trgm similarity threshold of the candidates of
// an n-letter word with edit budget k. The word has T = n+1 trigrams
// (pg_trgm pads it with two spaces before and one after). A substitution,
// insertion or deletion changes at most 3 of them, a transposition 4, and
// an edit adds at most one, so a word within k edits of which at most one
// is a transposition shares at least T-3k-1 and has at most T+k trigrams:
// similarity = shared / (|A| + |B| - shared) >= (T-3k-1) / (T+4k+1).
// Every word within one edit is found; within two edits (from 9 letters),
// two transpositions may fall below it. Allowing for them too would lower
// the threshold of a 9-letter word from 0.13 to 0.08 and make the lookup
// recheck about 8 times as many words. Repeated trigrams make the sets
// smaller, hence the margin.
func trigramFloor(n, k int) float64 {
	t, kk := float64(n+1), float64(k)
	f := (t-3*kk-1)/(t+4*kk+1) - 0.02
	return max(f, 0.05)
}

// osaDistance is the optimal string alignment distance between a and b (as
// runes): insertions, deletions, substitutions and transpositions of
// neighbours, each counting one. It returns max+1 as soon as the distance
// is known to exceed max.
func osaDistance(a, b string, maxd int) int {
	ra, rb := []rune(a), []rune(b)
	if d := len(ra) - len(rb); d > maxd || -d > maxd {
		return maxd + 1
	}
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			v := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				v = min(v, prev2[j-2]+1)
			}
			cur[j] = v
			rowMin = min(rowMin, v)
		}
		if rowMin > maxd {
			return maxd + 1
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return min(prev[len(rb)], maxd+1)
}

// tsqTok is one token of a tsquery's text form.
type tsqTok struct {
	text    string // as written (operators, parentheses, quoted literals)
	lexeme  string // unquoted, for literals
	suffix  string // ":*", ":AB"… after a literal
	literal bool
	negated bool // under a ! (the literal, or a group it is in)
}

var errTSQuerySyntax = errors.New("unexpected tsquery text")

// tsqTokens splits the text form of a tsquery (as PostgreSQL prints it) and
// marks the literals under a negation.
func tsqTokens(s string) ([]tsqTok, error) {
	var out []tsqTok
	neg := []bool{false} // per parenthesis depth
	pending := false     // a ! waiting for its operand
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ':
			i++
		case c == '\'':
			lexeme, j, ok := tsqLiteral(s, i)
			if !ok {
				return nil, errTSQuerySyntax
			}
			k := tsqWeights(s, j)
			out = append(out, tsqTok{text: s[i:j], lexeme: lexeme, suffix: s[j:k], literal: true, negated: neg[len(neg)-1] || pending})
			pending = false
			i = k
		case c == '!':
			pending = true
			out = append(out, tsqTok{text: "!"})
			i++
		case c == '(':
			neg = append(neg, neg[len(neg)-1] || pending)
			pending = false
			out = append(out, tsqTok{text: "("})
			i++
		case c == ')':
			if len(neg) == 1 {
				return nil, errTSQuerySyntax
			}
			neg = neg[:len(neg)-1]
			out = append(out, tsqTok{text: ")"})
			i++
		case c == '&' || c == '|':
			out = append(out, tsqTok{text: string(c)})
			i++
		case c == '<':
			op, ok := tsqPhraseOp(s[i:])
			if !ok {
				return nil, errTSQuerySyntax
			}
			out = append(out, tsqTok{text: op})
			i += len(op)
		default:
			return nil, errTSQuerySyntax
		}
	}
	if len(neg) != 1 {
		return nil, errTSQuerySyntax
	}
	return out, nil
}

// tsqLiteral reads the quoted lexeme starting at s[i] (a quote): its
// unescaped text and the index after its closing quote; ok is false when
// it is not closed.
func tsqLiteral(s string, i int) (lexeme string, end int, ok bool) {
	var b strings.Builder
	j := i + 1
	for j < len(s) {
		if s[j] == '\\' && j+1 < len(s) {
			b.WriteByte(s[j+1])
			j += 2
			continue
		}
		if s[j] == '\'' {
			if j+1 < len(s) && s[j+1] == '\'' {
				b.WriteByte('\'')
				j += 2
				continue
			}
			return b.String(), j + 1, true
		}
		b.WriteByte(s[j])
		j++
	}
	return "", j, false
}

// tsqWeights returns the index after the ":*ABCD" suffix (prefix match and
// weights) of a literal ending at s[j], or j when it has none.
func tsqWeights(s string, j int) int {
	k := j
	if k < len(s) && s[k] == ':' {
		k++
		for k < len(s) && strings.IndexByte("*ABCDabcd", s[k]) >= 0 {
			k++
		}
	}
	return k
}

// tsqPhraseOp reads the phrase operator ("<->" or "<N>") s starts with.
func tsqPhraseOp(s string) (string, bool) {
	j := strings.IndexByte(s, '>')
	if j < 0 {
		return "", false
	}
	op := s[:j+1]
	if inner := op[1 : len(op)-1]; inner != "-" {
		if _, err := strconv.Atoi(inner); err != nil {
			return "", false
		}
	}
	return op, true
}

// quoteLexeme writes w as a tsquery literal.
func quoteLexeme(w string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(w) + "'"
}

// eligible reports whether t may be corrected: a literal, not negated, not
// a prefix, with a non-zero edit budget.
func (t tsqTok) eligible() bool {
	return t.literal && !t.negated && !strings.Contains(t.suffix, "*") && typoBudget(t.lexeme) > 0
}

// correctable returns the distinct lexemes of toks that may be corrected.
func correctable(toks []tsqTok) []string {
	var out []string
	for _, t := range toks {
		if !t.eligible() {
			continue
		}
		if !slices.Contains(out, t.lexeme) {
			out = append(out, t.lexeme)
		}
	}
	return out
}

// rewriteTSQuery is toks with every eligible literal that has
// alternatives in alts replaced by ( 'lexeme' | 'alt1' | … ), each
// alternative with the literal's weight suffix.
func rewriteTSQuery(toks []tsqTok, alts map[string][]string) string {
	var b strings.Builder
	for i, t := range toks {
		if i > 0 {
			b.WriteByte(' ')
		}
		as := alts[t.lexeme]
		if !t.eligible() || len(as) == 0 {
			b.WriteString(t.text + t.suffix)
			continue
		}
		b.WriteString("( " + t.text + t.suffix)
		for _, a := range as {
			b.WriteString(" | " + quoteLexeme(a) + t.suffix)
		}
		b.WriteString(" )")
	}
	return b.String()
}

// typedWords are the runs of letters and digits of the query text,
// lower-cased, in order: the words as typed, to name them in corrections.
func typedWords(text string) []string {
	var out []string
	start := -1
	for i, r := range text + " " {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			w := strings.ToLower(text[start:i])
			if utf8.RuneCountInString(w) >= 5 && !slices.Contains(out, w) {
				out = append(out, w)
			}
			start = -1
		}
	}
	return out
}

// correct rewrites p's text query with corrections of its words that the
// collection's word list lacks, or with all, of every eligible word. It sets
// p.typo when some word got corrections and reports whether it did. A
// query without text, or whose tsquery text is not as expected, is left
// alone.
func (s *Service) correct(ctx context.Context, p *Plan, all bool) (bool, error) {
	p.typo = nil
	if !p.HasText() {
		return false, nil
	}
	typed := typedWords(p.Q.Text)
	if len(typed) == 0 {
		return false, nil // no word of 5 letters: nothing to correct
	}
	// One round trip: the tsquery as PostgreSQL prints it, and each typed
	// word's stem with whether the word list has it.
	a := &Args{}
	tsq := p.TSQuery(a)
	cfg := a.Add(p.Lang) + "::regconfig"
	cid := a.Add(p.CollectionID) + "::bigint"
	sql := "SELECT (" + tsq + ")::text, coalesce(array_agg(x.stem ORDER BY u.o), '{}'), coalesce(array_agg(EXISTS (SELECT 1 FROM search_words s WHERE s.collection_id = " +
		cid + " AND s.word = x.stem) ORDER BY u.o), '{}') FROM unnest(" + a.Add(typed) + "::text[]) WITH ORDINALITY AS u(w, o)" +
		" CROSS JOIN LATERAL (SELECT coalesce((tsvector_to_array(to_tsvector(" + cfg + ", u.w)))[1], '') AS stem) x"
	var (
		text    string
		stems   []string
		present []bool
	)
	if err := s.queryRow(ctx, sql, a, &text, &stems, &present); err != nil {
		return false, fmt.Errorf("search: typo tolerance: %w", pg.Interpret(err))
	}
	toks, err := tsqTokens(text)
	if err != nil {
		s.logger.Warn("search: typo tolerance skipped: unexpected tsquery text", "tsquery", text)
		return false, nil
	}
	words := correctable(toks)
	if !all {
		// Words the list has are taken as typed.
		words = slices.DeleteFunc(words, func(w string) bool {
			i := slices.Index(stems, w)
			return i >= 0 && i < len(present) && present[i]
		})
	}
	if len(words) == 0 {
		return false, nil
	}
	alts, err := s.candidates(ctx, p.CollectionID, words, all)
	if err != nil {
		return false, err
	}
	if len(alts) == 0 {
		return false, nil
	}
	tp := &typoPlan{orig: text, query: rewriteTSQuery(toks, alts), all: all}
	for _, w := range correctable(toks) {
		if len(alts[w]) == 0 {
			continue
		}
		name := w
		if i := slices.Index(stems, w); i >= 0 && i < len(typed) {
			name = typed[i]
		}
		tp.fixes = append(tp.fixes, Correction{Word: name, Used: alts[w]})
	}
	p.typo = tp
	return true, nil
}

// typoLookupSQL finds the listed words of collection $1 within the
// batch's trigram threshold and length bounds $3..$5 of word $2, unless $4
// is false and the list has the word itself. The gate is an uncorrelated
// subquery, evaluated once before the scan.
const typoLookupSQL = `SELECT s.word, similarity(s.word, $2::text)
  FROM search_words s
 WHERE ($4::bool OR NOT EXISTS (SELECT 1 FROM search_words p WHERE p.collection_id = $1 AND p.word = $2::text))
   AND s.collection_id = $1 AND s.word % $2::text AND s.word <> $2::text
   AND length(s.word) BETWEEN $3::int AND $5::int`

// typoThresholdSQL sets the trigram threshold for the next statement of
// the batch (its implicit transaction), and custom plans: planned for the
// actual word and collection, the lookup uses the trigram index, where a
// generic plan could scan all of a collection's words.
const typoThresholdSQL = `SELECT set_config('pg_trgm.similarity_threshold', $1, true), set_config('plan_cache_mode', 'force_custom_plan', true)`

// candidates returns, per word of words, the listed words within its edit
// budget, closest first (then most similar by trigrams, then in order), at
// most MaxCorrections; only for words missing from the list unless all.
// One round trip: a batch with a threshold and a lookup per word.
func (s *Service) candidates(ctx context.Context, collectionID int64, words []string, all bool) (map[string][]string, error) {
	type cand struct {
		word string
		dist int
		sim  float32
	}
	found := map[string][]cand{}
	b := &pgx.Batch{}
	for _, w := range words {
		k := typoBudget(w)
		n := utf8.RuneCountInString(w)
		floor := strconv.FormatFloat(trigramFloor(n, k), 'f', 3, 64)
		args := []any{collectionID, w, n - k, all, n + k}
		if s.trace != nil {
			s.trace(typoThresholdSQL, []any{floor})
			s.trace(typoLookupSQL, args)
		}
		b.Queue(typoThresholdSQL, floor)
		seen := map[string]bool{} // concurrent writers may list a word twice
		b.Queue(typoLookupSQL, args...).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var (
					c   string
					sim float32
				)
				if err := rows.Scan(&c, &sim); err != nil {
					return err
				}
				if seen[c] {
					continue
				}
				seen[c] = true
				if d := osaDistance(w, c, k); d <= k {
					found[w] = append(found[w], cand{c, d, sim})
				}
			}
			return rows.Err()
		})
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("search: typo candidates: %w", pg.Interpret(err))
	}
	out := map[string][]string{}
	for w, cs := range found {
		sort.Slice(cs, func(i, j int) bool {
			if cs[i].dist != cs[j].dist {
				return cs[i].dist < cs[j].dist
			}
			if cs[i].sim != cs[j].sim {
				return cs[i].sim > cs[j].sim
			}
			return cs[i].word < cs[j].word
		})
		for _, c := range cs[:min(len(cs), MaxCorrections)] {
			out[w] = append(out[w], c.word)
		}
	}
	return out, nil
}

// rankExpr is the relevance of vec for tsq (p's text query as TSQuery
// binds it). With corrections, a document matching the query as typed
// keeps its ts_rank_cd for it; one matching only through corrections scores
// its ts_rank_cd for the rewritten query minus 1, below every such document.
func (p *Plan) rankExpr(a *Args, vec, tsq string) string {
	if p.typo == nil {
		return RankExpr(vec, tsq)
	}
	orig := a.Add(p.typo.orig) + "::tsquery"
	return "(CASE WHEN " + vec + " @@ " + orig + " THEN " + RankExpr(vec, orig) + " ELSE " + RankExpr(vec, tsq) + " - 1 END)"
}
