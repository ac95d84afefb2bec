package auth

import (
	"errors"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/geoseek/geoseek/internal/httpx"
	"github.com/geoseek/geoseek/internal/problem"
)

const (
	ctxKey        = "geoseek.auth.key"
	ctxAuthErr    = "geoseek.auth.err"
	ctxReadsOpen  = "geoseek.auth.reads_open"
	ctxMiddleware = "geoseek.auth.installed"
	ctxNeeded     = "geoseek.auth.needed"
)

// Middleware authenticates an `Authorization: Bearer <key>` header when one is
// sent and remembers the key for Require. It rejects nothing by itself: routes
// state the scope they need with Require. requireKeyForReads closes read routes
// to anonymous callers (GEOSEEK_REQUIRE_KEY_FOR_READS).
func Middleware(s *Store, requireKeyForReads bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Set(ctxMiddleware, true)
		c.Set(ctxReadsOpen, !requireKeyForReads)
		h := c.GetHeader("Authorization")
		if h == "" {
			c.Next()
			return
		}
		scheme, secret, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(secret) == "" {
			c.Set(ctxAuthErr, errors.New("the Authorization header must be `Bearer <api key>`"))
			c.Next()
			return
		}
		k, err := s.Lookup(c.Request.Context(), strings.TrimSpace(secret))
		var exp *ExpiredError
		switch {
		case errors.As(err, &exp):
			c.Set(ctxAuthErr, errors.New("the API key expired at "+exp.At.UTC().Format(time.RFC3339)+"; use a newer key"))
		case errors.Is(err, ErrInvalidKey):
			c.Set(ctxAuthErr, errors.New("the API key is unknown or revoked"))
		case err != nil:
			httpx.Respond(c, err)
			return
		default:
			c.Set(ctxKey, k)
		}
		c.Next()
	}
}

// Require answers 401 when the request has no valid key and 403 when its key
// lacks scope. Read routes pass without a key unless reads require one.
func Require(scope Scope) gin.HandlerFunc {
	return func(c *gin.Context) {
		if _, ok := c.Get(ctxMiddleware); !ok {
			// A route wired without Middleware must fail closed.
			httpx.Respond(c, errors.New("auth: Require used without Middleware"))
			return
		}
		if e, ok := c.Get(ctxAuthErr); ok {
			httpx.Respond(c, problem.Wrap(problem.ErrUnauthorized, e.(error).Error()))
			return
		}
		open := scope == Read && c.GetBool(ctxReadsOpen)
		if !open {
			c.Set(ctxNeeded, true)
		}
		k, ok := KeyFrom(c)
		if !ok {
			if open {
				c.Next()
				return
			}
			httpx.Respond(c, problem.Wrap(problem.ErrUnauthorized, "this endpoint needs an API key with the "+string(scope)+" scope: send `Authorization: Bearer <key>`"))
			return
		}
		if !k.Allows(scope) {
			httpx.Respond(c, problem.Wrap(problem.ErrForbidden, "the API key "+k.Prefix+"… lacks the "+string(scope)+" scope"))
			return
		}
		c.Next()
	}
}

// Failed reports whether the request sent credentials that were refused
// (malformed, unknown, revoked or expired), for throttling failed attempts.
func Failed(c *gin.Context) bool {
	_, ok := c.Get(ctxAuthErr)
	return ok
}

// NeededKey reports whether the route the request reached needs a key (its
// scope is above read, or reads need a key): its answer is someone's own and
// must not be stored by shared caches.
func NeededKey(c *gin.Context) bool { return c.GetBool(ctxNeeded) }

// KeyFrom returns the authenticated key of the request, if any.
func KeyFrom(c *gin.Context) (Key, bool) {
	v, ok := c.Get(ctxKey)
	if !ok {
		return Key{}, false
	}
	k, ok := v.(Key)
	return k, ok
}
