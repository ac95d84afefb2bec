package main

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/geoseek/geoseek/cmd/geoseek/app"
	embedder "github.com/geoseek/geoseek/embed"
	"github.com/geoseek/geoseek/geo"
	"github.com/geoseek/geoseek/internal/pg"
	"github.com/geoseek/geoseek/internal/server"
	"github.com/geoseek/geoseek/search"
	"github.com/geoseek/geoseek/web"
)

func (a *App) serve(ctx context.Context, args []string) error {
	s, err := a.openLogged(ctx, spec{
		name:          "serve",
		about:         "Migrate the database, then serve HTTP on --addr until interrupted. With no database\nURL it creates and starts the private cluster under <data-dir>/pg when there is none.",
		groups:        ^gClient, // every server setting; the upload client's are its own
		createCluster: true,
	}, args, true)
	if err != nil {
		return err
	}
	// Deferred first, so it runs last: everything logged on the way out is
	// written.
	defer func() { _ = s.closeLog() }()
	defer pg.CloseWithin(s.pool, app.CloseWait, s.logger)
	c, logger, pool, rep := s.cfg, s.logger, s.pool, s.rep
	var features []string
	for n, v := range rep.Enabled {
		features = append(features, n+" "+v)
	}
	sort.Strings(features)
	logger.Info("database ready", "schema_version", rep.Version, "features", strings.Join(features, ", "), "unavailable", strings.Join(rep.Unavailable, ", "))
	if len(rep.Unavailable) > 0 {
		logger.Warn("pgvector is not installed on this PostgreSQL server: semantic and hybrid search answer 503; everything else works")
	}

	body, limits := c.edge()
	a2, err := app.New(ctx, app.Options{
		Edge: server.Config{
			MaxInFlight: c.MaxInFlight, AcquireTimeout: c.DBAcquireTimeout, Body: body,
			RateLimits: limits, CORSOrigins: c.CORSOrigins,
		},
		Version:            version,
		Addr:               c.Addr,
		DataDir:            c.DataDir,
		RequestTimeout:     c.RequestTimeout,
		ShutdownGrace:      c.ShutdownGrace,
		RequireKeyForReads: c.RequireKeyForReads,
		TrustedProxies:     c.TrustedProxies,
		Ingest:             c.ingestConfig(),
		SkipPlaces:         !c.Places,
		Search:             search.Config{CursorSecret: []byte(c.CursorSecret)},
		Embed:              c.embedConfig(),
		Geo:                geo.Options{BaseURL: c.BaseURL, TileCacheBytes: c.tileCacheBytes()},
		Map:                web.Options{StyleURL: c.MapStyleURL},
		MaxStreamsPerKey:   c.MaxStreamsPerKey,
	}, pool, logger)
	if err != nil {
		return err
	}

	started := func(addr string) {
		logger.Info("geoseek listening", "url", "http://"+addr+"/")
		fmt.Fprintf(a.Stdout, "geoseek %s serving on http://%s/\n", version, addr)
		if a.Started != nil {
			a.Started(addr)
		}
	}
	return a2.Run(ctx, a.Listener, started)
}

// tileCacheBytes maps --tile-cache-mb to geo.Options (0 there means the
// default, so off is negative).
func (c *Config) tileCacheBytes() int64 {
	if c.TileCacheMB == 0 {
		return -1
	}
	return int64(c.TileCacheMB) << 20
}

func (c *Config) embedConfig() embedder.Config {
	ec := embedder.Config{Default: c.Embedder, SweepInterval: c.EmbedSweepInterval}
	if c.EmbedderURL != "" {
		ec.OpenAI = embedder.OpenAIConfig{
			BaseURL: c.EmbedderURL, Model: c.EmbedderModel, APIKey: c.EmbedderAPIKey,
			Dim: c.EmbedderDim, RequestsPerSecond: c.EmbedderRPS,
		}
	}
	if c.Embedder == "openai" {
		ec.DefaultDim = c.EmbedderDim
	}
	return ec
}
