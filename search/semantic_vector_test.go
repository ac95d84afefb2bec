package search

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

// parseVectorSlow is parseVector without its fast path.
func parseVectorSlow(data []byte) ([]float32, bool) {
	var raw []*float64
	if err := decodeStrict(data, &raw); err != nil || len(raw) == 0 || len(raw) > MaxVectorDim {
		return nil, false
	}
	out := make([]float32, len(raw))
	for i, p := range raw {
		if p == nil || !finite(*p) || math.Abs(*p) > math.MaxFloat32 {
			return nil, false
		}
		out[i] = float32(*p)
	}
	return out, true
}

var vectorSeeds = []string{
	`[1,2,3]`, ` [ 0.5 , -1e-3,2E+2 ]  `, `[0]`, `[-0.0]`, `[1.7976931348623157e308]`, `[3.4028235e38]`, `[3.5e38]`,
	`[]`, `[1,]`, `[,1]`, `[1 2]`, `[01]`, `[1.]`, `[.5]`, `[+1]`, `[-]`, `[1e]`, `[1e+]`, `[0x10]`, `[NaN]`, `[Infinity]`,
	`[null]`, `["1"]`, `[1]x`, `[1] [2]`, `{"a":1}`, `1`, ``, `[1e400]`, `[1,2,3`, "[1,\t2\n,3\r]", `[[1]]`, `[true]`,
	`[-0.014567019,0.0123113785,-0,0.10,1e22,1e23,123456789012345,1234567890123456,0.000000000000000000000001]`,
	`[9007199254740993,4.9e-324,1.5E+3,2e-22,2e-23,-1E-0,100000000000000000000,0.0000]`,
}

// TestExactFloat: where exactFloat answers, it answers as strconv.ParseFloat.
func TestExactFloat(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 9))
	check := func(s string) {
		t.Helper()
		got, ok := exactFloat([]byte(s))
		want, err := strconv.ParseFloat(s, 64)
		if ok && (err != nil || math.Float64bits(got) != math.Float64bits(want)) {
			t.Fatalf("%s: exactFloat %v, ParseFloat %v %v", s, got, want, err)
		}
	}
	for range 200_000 {
		x := r.NormFloat64() * math.Pow(10, float64(r.IntN(12)-8))
		for _, s := range []string{
			strconv.FormatFloat(x, 'g', -1, 32), strconv.FormatFloat(x, 'g', -1, 64),
			strconv.FormatFloat(x, 'f', r.IntN(12), 64), strconv.FormatFloat(x, 'e', r.IntN(14), 64),
			strconv.FormatInt(r.Int64N(1<<54), 10),
		} {
			check(s)
		}
	}
	for _, s := range []string{"0", "-0", "0.0", "1e22", "1e-22", "9e15", "999999999999999", "1.5e+3", "123.456e-7"} {
		check(s)
	}
}

func TestParseVectorFastAgreesWithDecoder(t *testing.T) {
	for _, s := range vectorSeeds {
		checkVectorParsers(t, []byte(s))
	}
	v := make([]float64, 384)
	for i := range v {
		v[i] = math.Sin(float64(i)) * 0.07
	}
	b, _ := json.Marshal(v)
	got, ok := parseVectorFast(b)
	if !ok || len(got) != 384 {
		t.Fatalf("384 floats from encoding/json: ok=%v len=%d", ok, len(got))
	}
	checkVectorParsers(t, b)
}

func FuzzParseVector(f *testing.F) {
	for _, s := range vectorSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(checkVectorParsers)
}

// checkVectorParsers: what the fast path accepts the decoder accepts, with
// the same floats (the fast path may leave odd inputs to the decoder, such as
// a stray "]" after the array, which decodeStrict lets pass), and
// parseVector never panics.
func checkVectorParsers(t *testing.T, data []byte) {
	fast, fok := parseVectorFast(data)
	slow, sok := parseVectorSlow(data)
	if fok && (!sok || !slices.Equal(fast, slow)) {
		t.Errorf("%q: fast %v %v, decoder %v %v", data, fok, fast, sok, slow)
	}
	v, err := parseVector("vector", data)
	if (err == nil) != sok || !slices.Equal(v, slow) {
		t.Errorf("%q: parseVector %v, %v", data, v, err)
	}
}
