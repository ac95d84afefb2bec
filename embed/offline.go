package embed

import (
	"context"
	"fmt"
	"math"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/kljensen/snowball/english"
	"github.com/kljensen/snowball/french"
	"github.com/kljensen/snowball/hungarian"
	"github.com/kljensen/snowball/norwegian"
	"github.com/kljensen/snowball/russian"
	"github.com/kljensen/snowball/spanish"
	"github.com/kljensen/snowball/swedish"
	"golang.org/x/text/unicode/norm"

	"github.com/geoseek/geoseek/internal/problem"
)

// OfflineModel is the model name of the offline embedder. Its vectors depend
// on the model version, the dimension and the language; change the version
// whenever the features change so stored vectors get re-embedded.
const OfflineModel = "geoseek-offline-v1"

// DefaultDim is the offline embedder's default dimension.
const DefaultDim = 384

// Feature weights. Whole words carry most of the signal; word pairs add a
// little word order; character n-grams (3 to 5 characters of the word with
// boundary marks, fastText-style) make inflections, compounds and misspellings
// overlap. Each word's n-grams together weigh as much as the word.
const (
	wordWeight   = 1.0
	bigramWeight = 0.5
	gramWeight   = 1.0
	minGram      = 3
	maxGram      = 5
)

// Seeds keep the feature kinds apart in the hash space.
const (
	seedWord   uint64 = 0x9e3779b97f4a7c15
	seedBigram uint64 = 0xbf58476d1ce4e5b9
	seedGram   uint64 = 0x94d049bb133111eb
)

// Offline is the built-in embedder: deterministic feature hashing, no model,
// no network.
//
// Text is normalized (Unicode NFKC, lower case), split into words (runs of
// letters, digits and combining marks), stemmed and stripped of stop words
// with the Snowball stemmer when the language has one (English, French,
// Spanish, Russian, Swedish, Norwegian, Hungarian; others are only
// normalized), and folded to remove diacritics ("café" = "cafe"). Each word,
// each pair of neighbouring words and each character n-gram of a word is
// hashed into one of Dim() buckets with a hashed sign (the "hashing trick"),
// and the sum is L2-normalized.
//
// What it captures: lexical and sub-word similarity — shared words and stems,
// spelling variants, accents, shared word pairs. What it does not: meaning.
// Synonyms, paraphrases and translations are unrelated to it. Use an
// OpenAI-compatible model server for semantic similarity.
//
// A text with no letters or digits embeds to the zero vector (see IsZero).
// Texts made only of stop words keep them, so "to be or not to be" is not
// empty.
type Offline struct {
	dim  int
	lang string
	stem func(string, bool) string
	stop func(string) bool
}

// snowball maps PostgreSQL text search configuration names to stemmers.
var snowball = map[string]struct {
	stem func(string, bool) string
	stop func(string) bool
}{
	"english":   {english.Stem, english.IsStopWord},
	"french":    {french.Stem, french.IsStopWord},
	"spanish":   {spanish.Stem, spanish.IsStopWord},
	"russian":   {russian.Stem, russian.IsStopWord},
	"swedish":   {swedish.Stem, swedish.IsStopWord},
	"norwegian": {norwegian.Stem, norwegian.IsStopWord},
	"hungarian": {hungarian.Stem, hungarian.IsStopWord},
}

// NewOffline returns the offline embedder for dim dimensions (1..MaxDim) and
// the language lang, a PostgreSQL text search configuration name such as
// "english" or "simple" (the collection's default language). Languages
// without a Snowball stemmer, and "", get normalization and folding only.
func NewOffline(dim int, lang string) (*Offline, error) {
	if dim < 1 || dim > MaxDim {
		return nil, problem.Invalid("embedding_dim", "must be between 1 and %d, got %d", MaxDim, dim)
	}
	o := &Offline{dim: dim, lang: strings.ToLower(lang)}
	if s, ok := snowball[o.lang]; ok {
		o.stem, o.stop = s.stem, s.stop
	}
	return o, nil
}

// Dim implements Embedder.
func (o *Offline) Dim() int { return o.dim }

// Model implements Embedder.
func (o *Offline) Model() string { return OfflineModel }

// Lang is the language whose stemmer and stop words the embedder uses.
func (o *Offline) Lang() string { return o.lang }

// Embed implements Embedder. It never fails except when ctx ends.
func (o *Offline) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	// One backing array for the batch: fewer allocations, better locality.
	buf := make([]float32, len(texts)*o.dim)
	for i, t := range texts {
		if i%64 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("embed: offline: %w", err)
			}
		}
		out[i] = buf[i*o.dim : (i+1)*o.dim : (i+1)*o.dim]
		o.EmbedInto(t, out[i])
	}
	return out, nil
}

// EmbedInto writes the embedding of text into v, which must have Dim()
// elements (it panics otherwise, a programming error).
func (o *Offline) EmbedInto(text string, v []float32) {
	if len(v) != o.dim {
		panic(fmt.Sprintf("embed: EmbedInto: vector has %d elements, want %d", len(v), o.dim))
	}
	clear(v)
	words := o.words(text)
	keepStop := true
	if o.stop != nil {
		for _, w := range words {
			if !o.stop(w) {
				keepStop = false
				break
			}
		}
	}
	var prev uint64
	havePrev := false
	for _, w := range words {
		if o.stop != nil && !keepStop && o.stop(w) {
			// A stop word breaks the pair chain: "bank of america" should
			// not pair "bank" with "america" as if adjacent.
			havePrev = false
			continue
		}
		// Folding before stemming makes "brûlée" and "brulee" one word:
		// people often type without accents.
		stem := fold(w)
		if o.stem != nil {
			stem = o.stem(stem, true)
		}
		hw := hashString(seedWord, stem)
		o.add(v, hw, wordWeight)
		if havePrev {
			o.add(v, mix(prev^(hw*0x2545f4914f6cdd1d)^seedBigram), bigramWeight)
		}
		prev, havePrev = hw, true
		// N-grams of the stem, so inflections ("chats", "chat") match
		// fully while misspellings still share most n-grams.
		o.addGrams(v, stem)
	}
	normalize(v)
}

// add puts weight w, with the hash's sign, into the hash's bucket.
func (o *Offline) add(v []float32, h uint64, w float64) {
	h = mix(h)
	i := h % uint64(o.dim)
	if h>>63 == 1 {
		w = -w
	}
	v[i] += float32(w)
}

// maxGramRunes bounds the runes of a word that n-grams are taken from: very
// long tokens (hashes, base64) would otherwise dominate a text.
const maxGramRunes = 64

// addGrams adds the character n-grams of "<" + w + ">".
func (o *Offline) addGrams(v []float32, w string) {
	// offs holds the rune start offsets of the virtual string "<" + w + ">"
	// (and its end), so no string is built per word.
	var offs [maxGramRunes + 3]int
	n := 1 // offs[0] = 0 is "<"
	cut := len(w)
	for i := range w {
		if n == maxGramRunes+1 {
			cut = i
			break
		}
		offs[n] = i + 1
		n++
	}
	w = w[:cut]
	offs[n] = len(w) + 1 // ">"
	n++
	offs[n] = len(w) + 2 // end
	total := n           // runes in the virtual string
	count := 0
	for g := minGram; g <= maxGram; g++ {
		if total >= g {
			count += total - g + 1
		}
	}
	if count == 0 {
		return
	}
	weight := gramWeight / math.Sqrt(float64(count))
	for g := minGram; g <= maxGram; g++ {
		for s := 0; s+g <= total; s++ {
			o.add(v, hashVirtual(seedGram, w, offs[s], offs[s+g]), weight)
		}
	}
}

// hashVirtual hashes bytes [a, b) of the virtual string "<" + w + ">".
func hashVirtual(seed uint64, w string, a, b int) uint64 {
	h := fnvOffset ^ seed
	for i := a; i < b; i++ {
		var c byte
		switch {
		case i == 0:
			c = '<'
		case i == len(w)+1:
			c = '>'
		default:
			c = w[i-1]
		}
		h ^= uint64(c)
		h *= fnvPrime
	}
	return h
}

const (
	fnvOffset uint64 = 14695981039346656037
	fnvPrime  uint64 = 1099511628211
)

// hashString is FNV-1a (64-bit) with a seed; mix spreads it afterwards.
func hashString(seed uint64, s string) uint64 {
	h := fnvOffset ^ seed
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

// mix is the splitmix64 finalizer: FNV's low bits are weak, the bucket index
// uses them.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

func normalize(v []float32) {
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	if sum == 0 {
		return
	}
	inv := 1 / math.Sqrt(sum)
	for i := range v {
		v[i] = float32(float64(v[i]) * inv)
	}
}

// words splits NFKC-normalized, lower-cased text into words: maximal runs of
// letters, digits and combining marks.
func (o *Offline) words(text string) []string {
	if !isASCII(text) {
		text = norm.NFKC.String(text)
	}
	var out []string
	var b strings.Builder
	flush := func() {
		if b.Len() > 0 {
			out = append(out, b.String())
			b.Reset()
		}
	}
	for _, r := range text {
		switch {
		case r < utf8.RuneSelf:
			c := byte(r)
			switch {
			case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
				b.WriteByte(c)
			case c >= 'A' && c <= 'Z':
				b.WriteByte(c + 'a' - 'A')
			default:
				flush()
			}
		case unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.In(r, unicode.Mn, unicode.Mc):
			b.WriteRune(unicode.ToLower(r))
		default:
			flush()
		}
	}
	flush()
	return out
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// foldSpecial are letters that are not a base letter plus a combining mark
// but are commonly written as such in ASCII.
var foldSpecial = map[rune]string{
	'ß': "ss", 'æ': "ae", 'œ': "oe", 'ø': "o", 'ł': "l", 'đ': "d", 'ð': "d",
	'þ': "th", 'ı': "i", 'ħ': "h", 'ŧ': "t",
}

// fold removes diacritics: "Crème Brûlée" → "creme brulee".
func fold(s string) string {
	if isASCII(s) {
		return s
	}
	d := norm.NFD.String(s)
	var b strings.Builder
	b.Grow(len(d))
	for _, r := range d {
		if unicode.Is(unicode.Mn, r) {
			continue
		}
		if rep, ok := foldSpecial[r]; ok {
			b.WriteString(rep)
			continue
		}
		b.WriteRune(r)
	}
	return norm.NFC.String(b.String())
}
