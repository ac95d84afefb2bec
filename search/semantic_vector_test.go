package search

import (
	"encoding/json"
	"math"
	"slices"
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
