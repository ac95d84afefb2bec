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
// was 15% of the server's CPU time per semantic request with a 384-float
// vector (internal/bench/vector.go, vector/knn). The numbers are parsed by
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
		x, err := strconv.ParseFloat(string(data[i:j]), 64)
		if err != nil || math.IsNaN(x) || math.Abs(x) > math.MaxFloat32 {
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
