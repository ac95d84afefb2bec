package httpx

import (
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/geoseek/geoseek/internal/problem"
)

// Accepts reports whether an Accept header admits a media type (with
// "type/*" and "*/*" ranges; a range with q=0 refuses). An empty header
// accepts anything.
func Accepts(accept, mediaType string) bool {
	if strings.TrimSpace(accept) == "" {
		return true
	}
	typ, _, _ := strings.Cut(mediaType, ";")
	major, _, _ := strings.Cut(typ, "/")
	best, bestSpec := -1.0, -1
	for part := range strings.SplitSeq(accept, ",") {
		rng, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		rng = strings.ToLower(strings.TrimSpace(rng))
		spec := -1
		switch {
		case rng == typ:
			spec = 2
		case rng == major+"/*":
			spec = 1
		case rng == "*/*" || rng == "*":
			spec = 0
		}
		if spec < bestSpec || spec < 0 {
			continue
		}
		q := 1.0
		for p := range strings.SplitSeq(params, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					q = f
				}
			}
		}
		// The most specific range decides (RFC 9110 12.5.1).
		if spec > bestSpec {
			best, bestSpec = q, spec
		} else {
			best = max(best, q)
		}
	}
	return best > 0
}

// Negotiate returns the first of offers the request's Accept admits; with
// none it answers 406 problem+json listing the offers, and returns false.
// Handlers call it before doing any work.
func Negotiate(c *gin.Context, offers ...string) (string, bool) {
	accept := c.GetHeader("Accept")
	for _, o := range offers {
		if Accepts(accept, o) {
			return o, true
		}
	}
	Respond(c, problem.Wrap(problem.ErrNotAcceptable, "this resource is available as "+strings.Join(offers, ", ")+"; the Accept header admits none of them"))
	return "", false
}

// Produces is Negotiate as route middleware.
func Produces(offers ...string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if _, ok := Negotiate(c, offers...); ok {
			c.Next()
		}
	}
}
