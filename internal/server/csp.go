package server

import (
	"github.com/gin-gonic/gin"

	"github.com/geoseek/geoseek/internal/httpx"
)

// contentSecurityPolicy gives every response the policy that allows
// nothing; HTML handlers replace it with their page policy through
// httpx.Nonce, which may also allow origins (the configured map style).
func contentSecurityPolicy(origins []string) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Writer.Header()["Content-Security-Policy"] = []string{httpx.BaseCSP}
		httpx.SetCSPOrigins(c, origins)
		c.Next()
	}
}
