package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/geoseek/geoseek/internal/auth"
)

func (a *App) keys(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usageError{errors.New("keys: want create, list or revoke")}
	}
	sub, rest := args[0], args[1:]
	var name, scopes string
	// Keys live in the schema, so open migrates it first.
	s, err := a.open(ctx, "keys "+sub, rest, func(fs *flag.FlagSet) {
		if sub == "create" {
			fs.StringVar(&name, "name", "", "a name that says who or what uses the key (required)")
			fs.StringVar(&scopes, "scopes", "read", "comma-separated scopes: read, write, admin")
		}
	})
	if err != nil {
		return err
	}
	defer s.pool.Close()
	fs := s.fs
	store := auth.NewStore(s.pool)
	switch sub {
	case "create":
		sc, err := auth.ParseScopes(scopes)
		if err != nil {
			return usageError{err}
		}
		if strings.TrimSpace(name) == "" {
			return usageError{errors.New("keys create: --name is required")}
		}
		k, secret, err := store.Create(ctx, name, sc)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.Stdout, "created key %d %q with scopes %s; it is shown once, store it now:\n", k.ID, k.Name, joinScopes(k.Scopes))
		// The key alone on the last line, for scripts: KEY=$(geoseek keys create ... | tail -n1)
		fmt.Fprintln(a.Stdout, secret)
		return nil
	case "list":
		keys, err := store.List(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tPREFIX\tNAME\tSCOPES\tCREATED\tLAST USED\tSTATUS")
		for _, k := range keys {
			status := "active"
			if k.RevokedAt != nil {
				status = "revoked " + k.RevokedAt.Format(time.RFC3339)
			}
			used := "never"
			if k.LastUsedAt != nil {
				used = k.LastUsedAt.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%d\t%s…\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Prefix, k.Name, joinScopes(k.Scopes), k.CreatedAt.Format(time.RFC3339), used, status)
		}
		return tw.Flush()
	case "revoke":
		if fs.NArg() != 1 {
			return usageError{errors.New("keys revoke: give one key id or prefix")}
		}
		k, err := store.Revoke(ctx, strings.TrimSuffix(fs.Arg(0), "…"))
		if err != nil {
			return err
		}
		fmt.Fprintf(a.Stdout, "revoked key %d %q (%s…)\n", k.ID, k.Name, k.Prefix)
		return nil
	default:
		return usageError{fmt.Errorf("keys: unknown subcommand %q (want create, list or revoke)", sub)}
	}
}

func joinScopes(s []auth.Scope) string {
	parts := make([]string, len(s))
	for i, x := range s {
		parts[i] = string(x)
	}
	return strings.Join(parts, ",")
}
