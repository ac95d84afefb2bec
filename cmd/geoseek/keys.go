package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/geoseek/geoseek/internal/auth"
)

// keySpecs are the keys subcommands; flags binds create's own flags.
func keySpecs(name, scopes, expires *string) []spec {
	return []spec{
		{name: "keys create", short: "create a key", about: "Create an API key and print it once, alone on the last line of stdout.", groups: gDatabase,
			flags: func(fs *flag.FlagSet) {
				fs.StringVar(name, "name", "", "a name that says who or what uses the key (required)")
				fs.StringVar(scopes, "scopes", "read", "comma-separated scopes: read, write, admin")
				fs.StringVar(expires, "expires", "", "when the key stops working: a period from now (90d, 12w, 36h) or a date (2027-03-31, 2027-03-31T12:00:00Z); empty: never")
			}},
		{name: "keys list", short: "list the keys", about: "List every API key, revoked and expired ones included, with its expiry.", groups: gDatabase},
		{name: "keys revoke", short: "revoke a key", args: "NAME|ID|PREFIX", minArgs: 1, maxArgs: 1, groups: gDatabase,
			about: "Revoke the active key with that name, id or prefix (as keys list shows them); a\nreference several active keys match is refused, with those keys listed. A running\nserver stops accepting the key within 5 s."},
	}
}

func (a *App) keys(ctx context.Context, args []string) error {
	var name, scopes, expires string
	sp, rest, err := a.dispatch("keys", keySpecs(&name, &scopes, &expires), args)
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
		exp, err := parseExpiry(expires, time.Now())
		if err != nil {
			return usageError{err}
		}
		k, secret, err := store.CreateExpiring(ctx, name, sc, exp)
		if err != nil {
			return err
		}
		until := "does not expire"
		if k.ExpiresAt != nil {
			until = "expires " + k.ExpiresAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(a.Stdout, "created key %d %q with scopes %s, %s; it is shown once, store it now:\n", k.ID, k.Name, joinScopes(k.Scopes), until)
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
	head := "ID\tPREFIX\tNAME\tSCOPES\tCREATED\tLAST USED\tEXPIRES"
	if status {
		head += "\tSTATUS"
	}
	fmt.Fprintln(tw, head)
	for _, k := range keys {
		used := "never"
		if k.LastUsedAt != nil {
			used = k.LastUsedAt.Format(time.RFC3339)
		}
		exp := "never"
		if k.ExpiresAt != nil {
			exp = k.ExpiresAt.UTC().Format(time.RFC3339)
		}
		line := fmt.Sprintf("%d\t%s…\t%s\t%s\t%s\t%s\t%s", k.ID, k.Prefix, k.Name, joinScopes(k.Scopes), k.CreatedAt.Format(time.RFC3339), used, exp)
		if status {
			st := "active"
			switch {
			case k.RevokedAt != nil:
				st = "revoked " + k.RevokedAt.Format(time.RFC3339)
			case k.Expired(time.Now()):
				st = "expired"
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

// parseExpiry reads --expires: "" (never), a period from now with a unit of
// d (days), w (weeks) or any Go duration unit, or an absolute date or time
// (a date alone is midnight UTC).
func parseExpiry(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	bad := fmt.Errorf("keys create: --expires %q: want a period such as 90d, 12w or 36h, or a date such as 2027-03-31 or 2027-03-31T12:00:00Z", s)
	var t time.Time
	if n, unit := strings.TrimRight(s, "dw"), s[len(strings.TrimRight(s, "dw")):]; unit == "d" || unit == "w" {
		days, err := strconv.Atoi(n)
		if err != nil || days <= 0 || days > 100*366 {
			return time.Time{}, bad
		}
		if unit == "w" {
			days *= 7
		}
		t = now.AddDate(0, 0, days)
	} else if d, err := time.ParseDuration(s); err == nil {
		t = now.Add(d)
	} else if d, err := time.Parse(time.RFC3339, s); err == nil {
		t = d
	} else if d, err := time.Parse(time.DateOnly, s); err == nil {
		t = d
	} else {
		return time.Time{}, bad
	}
	if !t.After(now) {
		return time.Time{}, fmt.Errorf("keys create: --expires %q is not in the future", s)
	}
	return t, nil
}
