package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/geoseek/geoseek/internal/auth"
)

// keySpecs are the keys subcommands; flags binds create's own flags.
func keySpecs(name, scopes *string) []spec {
	return []spec{
		{name: "keys create", short: "create a key", about: "Create an API key and print it once, alone on the last line of stdout.", groups: gDatabase,
			flags: func(fs *flag.FlagSet) {
				fs.StringVar(name, "name", "", "a name that says who or what uses the key (required)")
				fs.StringVar(scopes, "scopes", "read", "comma-separated scopes: read, write, admin")
			}},
		{name: "keys list", short: "list the keys", about: "List every API key, revoked ones included.", groups: gDatabase},
		{name: "keys revoke", short: "revoke a key", args: "NAME|ID|PREFIX", minArgs: 1, maxArgs: 1, groups: gDatabase,
			about: "Revoke the active key with that name, id or prefix (as keys list shows them); a\nreference several active keys match is refused, with those keys listed. A running\nserver stops accepting the key within 5 s."},
	}
}

func (a *App) keys(ctx context.Context, args []string) error {
	var name, scopes string
	sp, rest, err := a.dispatch("keys", keySpecs(&name, &scopes), args)
	if err != nil {
		return err
	}
	// Keys live in the schema, so open migrates it first.
	s, err := a.open(ctx, sp, rest)
	if err != nil {
		return err
	}
	defer s.pool.Close()
	store := auth.NewStore(s.pool)
	switch sp.name {
	case "keys create":
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
	case "keys list":
		keys, err := store.List(ctx)
		if err != nil {
			return err
		}
		return printKeys(a.Stdout, keys, true)
	default: // keys revoke
		k, err := store.Revoke(ctx, strings.TrimSuffix(s.args[0], "…"))
		var amb *auth.AmbiguousError
		if errors.As(err, &amb) {
			fmt.Fprintf(a.Stderr, "%q matches %d active keys:\n", amb.Ref, len(amb.Keys))
			_ = printKeys(a.Stderr, amb.Keys, false)
			return fmt.Errorf("keys revoke: %q matches %d active keys (listed above); revoke one by its id or prefix", amb.Ref, len(amb.Keys))
		}
		if err != nil {
			return fmt.Errorf("keys revoke: %w", err)
		}
		fmt.Fprintf(a.Stdout, "revoked key %d %q (%s…)\n", k.ID, k.Name, k.Prefix)
		return nil
	}
}

// printKeys writes keys as a table; status adds whether each is revoked.
func printKeys(w io.Writer, keys []auth.Key, status bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	head := "ID\tPREFIX\tNAME\tSCOPES\tCREATED\tLAST USED"
	if status {
		head += "\tSTATUS"
	}
	fmt.Fprintln(tw, head)
	for _, k := range keys {
		used := "never"
		if k.LastUsedAt != nil {
			used = k.LastUsedAt.Format(time.RFC3339)
		}
		line := fmt.Sprintf("%d\t%s…\t%s\t%s\t%s\t%s", k.ID, k.Prefix, k.Name, joinScopes(k.Scopes), k.CreatedAt.Format(time.RFC3339), used)
		if status {
			st := "active"
			if k.RevokedAt != nil {
				st = "revoked " + k.RevokedAt.Format(time.RFC3339)
			}
			line += "\t" + st
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}

func joinScopes(s []auth.Scope) string {
	parts := make([]string, len(s))
	for i, x := range s {
		parts[i] = string(x)
	}
	return strings.Join(parts, ",")
}
