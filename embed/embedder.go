package embed

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/geoseek/geoseek/internal/problem"
)

// Embedder turns texts into vectors.
//
// Contract: Embed returns exactly len(texts) vectors, in the order of texts,
// each of length Dim(), with finite elements; or it returns an error and no
// vectors (never a partial result). An empty batch returns an empty result
// and no error. Errors wrap ctx.Err() when the context ended,
// problem.ErrUnavailable when an embedding service failed or answered
// nonsense (503 to a user), and a *problem.ValidationError when the input
// itself was refused (400). Implementations are safe for concurrent use.
//
// A text with nothing to embed (no letters or digits) may yield the zero
// vector; see IsZero. Callers store no embedding for it and refuse it as a
// query, because cosine distance to a zero vector is undefined.
type Embedder interface {
	Embed(ctx context.Context, texts []string) ([][]float32, error)
	// Dim is the length of every vector Embed returns.
	Dim() int
	// Model names the model; vectors of different models or dimensions are
	// not comparable.
	Model() string
}

// MaxDim is the largest dimension pgvector's vector type stores.
const MaxDim = 16000

// ErrNoEmbedder says that a collection has no embedder that can turn text
// into vectors (embedder "none", or no dimension set). It is a validation
// error for requests that send text where only vectors are possible.
var ErrNoEmbedder = errors.New("embed: the collection has no embedder")

// Validate checks a user-provided vector for a collection whose vectors have
// dim dimensions: the length must be dim, every element finite, and the
// vector not all zeros (cosine distance needs a direction). It returns a
// *problem.ValidationError naming field (400) when it is not.
func Validate(field string, v []float32, dim int) error {
	if len(v) != dim {
		return problem.Invalid(field, "has %d dimensions, the collection's vectors have %d", len(v), dim)
	}
	var sum float64
	for i, x := range v {
		f := float64(x)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return problem.Invalid(field, "element %d is %v; every element must be a finite number", i, x)
		}
		sum += f * f
	}
	if sum == 0 {
		return problem.Invalid(field, "is all zeros; cosine similarity needs a non-zero vector")
	}
	// pgvector computes norms in single precision: a larger sum of squares
	// overflows there and makes every distance NaN.
	if sum > math.MaxFloat32 {
		return problem.Invalid(field, "is too large: its squared length exceeds the float32 range")
	}
	return nil
}

// IsZero reports whether v has no non-zero element.
func IsZero(v []float32) bool {
	for _, x := range v {
		if x != 0 {
			return false
		}
	}
	return true
}

// checkBatch verifies an embedder's answer against the contract.
func checkBatch(vecs [][]float32, n, dim int) error {
	if len(vecs) != n {
		return fmt.Errorf("embed: got %d vectors for %d texts: %w", len(vecs), n, problem.ErrUnavailable)
	}
	for i, v := range vecs {
		if len(v) != dim {
			return fmt.Errorf("embed: vector %d has %d dimensions, want %d (check the model and dimension settings): %w", i, len(v), dim, problem.ErrUnavailable)
		}
		for _, x := range v {
			if f := float64(x); math.IsNaN(f) || math.IsInf(f, 0) {
				return fmt.Errorf("embed: vector %d has a non-finite element: %w", i, problem.ErrUnavailable)
			}
		}
	}
	return nil
}
