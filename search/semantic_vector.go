package search

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"math"
	"strconv"
)

// vectorDigest identifies a query vector for cursor hashes by its float32
// bits ("" for none): hashing its JSON text instead formatted 384 floats on
// every page, a fifth of a semantic page's own time.
func vectorDigest(v []float32) string {
	if v == nil {
		return ""
	}
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	sum := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// parseVectorFast parses the common case of a query vector: a JSON array of
// 1..MaxVectorDim finite numbers within float32's range. It reports false
// for anything else (null elements, other JSON, NaN, out of range), and
// parseVector then decodes the input generically for a precise error.
//
// Why: the generic decoder (into []*float64, one allocation per element)
// was a large share of the server's CPU time per semantic request
// (docs/performance.md, "Parsing a search request"). The numbers are parsed by
// strconv.ParseFloat as encoding/json parses them, so both paths give the
// same floats.
func parseVectorFast(data []byte) ([]float32, bool) {
	i := skipJSONSpace(data, 0)
	if i >= len(data) || data[i] != '[' {
		return nil, false
	}
	i++
	out := make([]float32, 0, bytes.Count(data, []byte{','})+1)
	for {
		i = skipJSONSpace(data, i)
		j := scanJSONNumber(data, i)
		if j < 0 {
			return nil, false
		}
		x, ok := exactFloat(data[i:j])
		if !ok {
			var err error
			if x, err = strconv.ParseFloat(string(data[i:j]), 64); err != nil {
				return nil, false
			}
		}
		if math.IsNaN(x) || math.Abs(x) > math.MaxFloat32 {
			return nil, false
		}
		out = append(out, float32(x))
		if i = skipJSONSpace(data, j); i >= len(data) {
			return nil, false
		}
		if data[i] == ']' {
			break
		}
		if data[i] != ',' {
			return nil, false
		}
		i++
	}
	if skipJSONSpace(data, i+1) != len(data) || len(out) > MaxVectorDim {
		return nil, false
	}
	return out, true
}

// float64pow10 are the powers of ten a float64 holds exactly.
var float64pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// exactFloat converts a JSON number (as scanJSONNumber delimits it) when
// its digits make an integer below 2^53 and its decimal exponent is within
// ±22: then the value is that integer times or divided by an exact power of
// ten, one correctly rounded operation (Clinger's fast path, which
// strconv.ParseFloat takes for such input too, so the result is the same).
// Other numbers report false and go to strconv.ParseFloat. Why: a query
// vector's numbers are like -0.014567019, and ParseFloat spent more time
// re-reading each than computing it (BenchmarkParseBodySemantic).
func exactFloat(num []byte) (float64, bool) {
	var (
		mant   uint64
		digits int
		exp    int
		neg    bool
		i      int
	)
	if i < len(num) && num[i] == '-' {
		neg = true
		i++
	}
	frac := false
	for ; i < len(num); i++ {
		c := num[i]
		switch {
		case c >= '0' && c <= '9':
			if mant != 0 || c != '0' {
				digits++
				if digits > 15 {
					return 0, false // may not fit in 53 bits
				}
				mant = mant*10 + uint64(c-'0')
			}
			if frac {
				exp--
			}
		case c == '.':
			frac = true
		case c == 'e' || c == 'E':
			e, err := strconv.Atoi(string(num[i+1:]))
			if err != nil || e > 1000 || e < -1000 {
				return 0, false
			}
			exp += e
			i = len(num)
		default:
			return 0, false
		}
	}
	f := float64(mant)
	switch {
	case mant == 0:
		f = 0
	case exp == 0:
	case exp > 0 && exp <= 22:
		f *= float64pow10[exp]
	case exp < 0 && exp >= -22:
		f /= float64pow10[-exp]
	default:
		return 0, false
	}
	if neg {
		f = -f
	}
	return f, true
}

func skipJSONSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// scanJSONNumber returns the end of the JSON number (RFC 8259's grammar)
// starting at data[i], or -1 when none starts there.
func scanJSONNumber(data []byte, i int) int {
	digits := func(j int) int {
		for j < len(data) && data[j] >= '0' && data[j] <= '9' {
			j++
		}
		return j
	}
	if i < len(data) && data[i] == '-' {
		i++
	}
	switch {
	case i >= len(data):
		return -1
	case data[i] == '0':
		i++
	case data[i] >= '1' && data[i] <= '9':
		i = digits(i + 1)
	default:
		return -1
	}
	if i < len(data) && data[i] == '.' {
		j := digits(i + 1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		j := digits(i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}
