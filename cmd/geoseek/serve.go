package main

import (
	"context"
	"fmt"
	"github.com/geoseek/geoseek/internal/app"
	"sort"
	"strings"
)

func (a *App) serve(ctx context.Context, args []string) error {
	c, _, err := a.flags("serve", args, nil)
	if err != nil {
		return err
	}
	logger := c.logger(a.Stderr)
	pool, rep, err := a.openMigrated(ctx, c, logger)
	if err != nil {
		return err
	}
	defer pool.Close()
	var features []string
	for n, v := range rep.Enabled {
		features = append(features, n+" "+v)
	}
	sort.Strings(features)
	logger.Info("database ready", "schema_version", rep.Version, "features", strings.Join(features, ", "), "unavailable", strings.Join(rep.Unavailable, ", "))
	if len(rep.Unavailable) > 0 {
		logger.Warn("pgvector is not installed on this PostgreSQL server: semantic and hybrid search answer 503; everything else works")
	}

	a2, err := app.New(ctx, app.Options{
		Addr:               c.Addr,
		DataDir:            c.DataDir,
		RequestTimeout:     c.RequestTimeout,
		ShutdownGrace:      c.ShutdownGrace,
		RequireKeyForReads: c.RequireKeyForReads,
		Features:           rep.Enabled,
	}, pool, logger)
	if err != nil {
		return err
	}
	defer a2.Close()

	started := func(addr string) {
		logger.Info("geoseek listening", "url", "http://"+addr+"/")
		fmt.Fprintf(a.Stdout, "geoseek %s serving on http://%s/\n", version, addr)
		if a.Started != nil {
			a.Started(addr)
		}
	}
	return a2.Run(ctx, a.Listener, started)
}
