package httpx

import (
	"crypto/rand"
	"encoding/base64"
	"strings"

	"github.com/gin-gonic/gin"
)

// Content-Security-Policy. Every response carries BaseCSP, which allows
// nothing: a JSON or problem+json answer opened in a browser runs no script
// and loads nothing. An HTML page calls Nonce, which replaces it with the
// page policy: scripts and styles only from this origin or carrying the
// request's nonce, images from here and data:/blob: (MapLibre draws its
// icons and sprites from them), workers from blob: (MapLibre starts its
// tile worker from a blob URL), and requests to this origin plus the
// origins the server was configured with (an online map style).
const (
	BaseCSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
	// cspOriginsKey holds the extra connect origins, set by the server.
	cspOriginsKey = "geoseek.csp_origins"
	cspNonceKey   = "geoseek.csp_nonce"
)

// SetCSPOrigins records the origins (scheme://host[:port]) an HTML page may
// also connect to and load images from; the server's middleware calls it.
func SetCSPOrigins(c *gin.Context, origins []string) {
	if len(origins) > 0 {
		c.Set(cspOriginsKey, origins)
	}
}

// Nonce returns the request's CSP nonce, making it and setting the page
// policy on the first call. Only HTML handlers call it, so other requests
// pay for no random bytes.
func Nonce(c *gin.Context) string {
	if n := c.GetString(cspNonceKey); n != "" {
		return n
	}
	var b [18]byte
	_, _ = rand.Read(b[:])
	n := base64.RawURLEncoding.EncodeToString(b[:]) // no "+" for templates to escape
	c.Set(cspNonceKey, n)
	c.Header("Content-Security-Policy", PagePolicy(n, c.GetStringSlice(cspOriginsKey)))
	return n
}

// PagePolicy is the policy of an HTML page with nonce n that may also
// connect to and load images from origins.
func PagePolicy(n string, origins []string) string {
	extra := ""
	if len(origins) > 0 {
		extra = " " + strings.Join(origins, " ")
	}
	return "default-src 'none'; script-src 'self' 'nonce-" + n + "'; style-src 'self' 'nonce-" + n + "'" +
		"; img-src 'self' data: blob:" + extra + "; connect-src 'self'" + extra +
		"; worker-src blob:; child-src blob:; font-src 'self'" + extra +
		"; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
}
