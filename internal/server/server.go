// Package server builds geoseek's HTTP server: the Gin engine with the shared
// middleware (request ids, access logs, panic recovery into problem+json,
// metrics, security headers), the operational endpoints (/healthz, /readyz,
// /metrics) and an http.Server with timeouts and graceful shutdown. Domain
// packages add their routes through their Handler's Register method.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/geoseek/geoseek/internal/auth"
	"github.com/geoseek/geoseek/internal/httpx"
	"github.com/geoseek/geoseek/internal/problem"
)

// Config holds the server's settings.
type Config struct {
	Addr string
	// RequestTimeout bounds a request's context; WriteTimeout is set a little
	// longer so the timeout's problem response can still be written.
	RequestTimeout time.Duration
	// DisconnectGrace is how long a request's work goes on after its client
	// went away (default DefaultDisconnectGrace).
	DisconnectGrace time.Duration
	// ShutdownGrace is how long in-flight requests may run after a stop signal.
	ShutdownGrace      time.Duration
	RequireKeyForReads bool
	// Untimed lists streaming routes ("POST /photos") exempt from
	// RequestTimeout and the write timeout.
	Untimed []string
	// MaxBodyBytes bounds request bodies of routes that do not set their own
	// limit (uploads and imports stream and set theirs).
	MaxBodyBytes int64
	// TrustedProxies are the addresses or CIDRs of reverse proxies whose
	// X-Forwarded-For / X-Real-IP name the client in the access log. None
	// by default (Gin's own default trusts every peer, so any client could
	// log itself as any address).
	TrustedProxies []string

	// MaxInFlight bounds the requests served at once (probes excepted);
	// past it a request gets 503 with Retry-After at once. 0: no bound.
	MaxInFlight int
	// AcquireTimeout bounds a request's wait for a database connection;
	// past it the request gets 503 unavailable. 0: the request's deadline.
	AcquireTimeout time.Duration
	// Body bounds how slowly a request body may arrive.
	Body BodyLimits
	// RateLimits are the per-key, per-address and failed-authentication
	// limits (zero: off).
	RateLimits RateLimits
	// CORSOrigins are the origins browsers may call from ("*": any); none:
	// no CORS headers.
	CORSOrigins []string
	// CSPOrigins are origins (scheme://host[:port]) HTML pages may also
	// load from: the online map style, when one is configured.
	CSPOrigins []string
}

// Server is geoseek's HTTP server.
type Server struct {
	cfg      Config
	logger   *slog.Logger
	pool     *pgxpool.Pool
	engine   *gin.Engine
	registry *prometheus.Registry
	ready    *Readiness
	// API is the router group domain handlers register on; it carries the
	// auth middleware.
	API gin.IRouter
}

// New builds the engine and operational routes. Register domain handlers on
// s.API, then call Serve.
func New(cfg Config, pool *pgxpool.Pool, ready *Readiness, logger *slog.Logger) *Server {
	gin.SetMode(gin.ReleaseMode)
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 60 * time.Second
	}
	if cfg.DisconnectGrace <= 0 {
		cfg.DisconnectGrace = DefaultDisconnectGrace
	}
	if cfg.ShutdownGrace == 0 {
		cfg.ShutdownGrace = 20 * time.Second
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 16 << 20 // geo takes single features up to 16 MiB
	}
	s := &Server{cfg: cfg, logger: logger, pool: pool, ready: ready, registry: prometheus.NewRegistry()}
	s.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if pool != nil {
		s.registry.MustRegister(newPoolCollector(pool))
	}
	m := newHTTPMetrics(s.registry)

	e := gin.New()
	if err := e.SetTrustedProxies(cfg.TrustedProxies); err != nil {
		// Config validation rejects these first; never trust all instead.
		logger.Error("trusted proxies ignored", "error", err)
		_ = e.SetTrustedProxies(nil)
	}
	e.HandleMethodNotAllowed = true
	e.ContextWithFallback = true
	e.Use(requestID(), accessLog(logger), recovery(logger), m.middleware(), securityHeaders(), contentSecurityPolicy(cfg.CSPOrigins), cors(cfg.CORSOrigins),
		shed(cfg.MaxInFlight), timeout(cfg), acceptable())
	e.NoRoute(func(c *gin.Context) {
		httpx.Respond(c, problem.Wrap(problem.ErrNotFound, "no route for "+c.Request.Method+" "+c.Request.URL.Path))
	})
	e.NoMethod(func(c *gin.Context) {
		httpx.Respond(c, problem.Wrap(problem.ErrMethod, c.Request.Method+" is not allowed on "+c.Request.URL.Path))
	})
	e.GET("/healthz", s.healthz)
	e.HEAD("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	s.engine = e
	lim := newLimiters(cfg.RateLimits)
	if pool != nil {
		s.API = e.Group("/", lim.beforeAuth(), auth.Middleware(auth.NewStore(pool), cfg.RequireKeyForReads), lim.afterAuth(), privateCache())
	} else {
		s.API = e.Group("/", lim.afterAuth())
	}
	// Metrics are a read like any other: open, or behind a read key when
	// reads need one.
	metrics := gin.WrapH(promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{Registry: s.registry}))
	if pool != nil {
		s.API.GET("/metrics", auth.Require(auth.Read), metrics)
	} else {
		e.GET("/metrics", metrics)
	}
	return s
}

// Engine is the Gin engine, for tests that drive it with httptest.
func (s *Server) Engine() *gin.Engine { return s.engine }

// Registry is the Prometheus registry; domains may register their metrics.
func (s *Server) Registry() *prometheus.Registry { return s.registry }

// Serve listens on cfg.Addr (or uses ln if non-nil) until ctx is done, then
// shuts down gracefully: it stops accepting, lets in-flight requests finish
// within ShutdownGrace, and returns. started, if non-nil, receives the bound
// address once listening.
func (s *Server) Serve(ctx context.Context, ln net.Listener, started func(addr string)) error {
	if ln == nil {
		var err error
		ln, err = net.Listen("tcp", s.cfg.Addr)
		if err != nil {
			return fmt.Errorf("server: listen %s: %w", s.cfg.Addr, err)
		}
	}
	hs := &http.Server{
		Handler:           s.engine,
		ReadHeaderTimeout: 10 * time.Second,
		// No ReadTimeout: uploads of large photos stream for longer than any
		// fixed bound; the upload handler enforces size limits instead, and
		// idle connections are reaped by IdleTimeout.
		WriteTimeout:   s.cfg.RequestTimeout + 5*time.Second,
		IdleTimeout:    120 * time.Second,
		MaxHeaderBytes: 1 << 20,
		ErrorLog:       slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
		BaseContext:    func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	if started != nil {
		started(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("server: %w", err)
	case <-ctx.Done():
	}
	s.logger.Info("shutting down: finishing in-flight requests", "grace", s.cfg.ShutdownGrace)
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownGrace)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
		return fmt.Errorf("server: shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("server: %w", err)
	}
	return nil
}

func (s *Server) healthz(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}
