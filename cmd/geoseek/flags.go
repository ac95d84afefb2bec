package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"
)

// spec describes one subcommand's command line.
type spec struct {
	name  string // as typed after geoseek: "keys revoke"
	args  string // its arguments in the usage line: "NAME|ID|PREFIX"
	short string // what it does in a line, for the list of a group's subcommands
	about string // what it does, for -h
	// minArgs and maxArgs bound the arguments (maxArgs < 0: no limit).
	minArgs, maxArgs int
	// groups are the shared settings it uses (see bindConfig).
	groups group
	// flags defines its own flags.
	flags func(fs *flag.FlagSet)
	// createCluster lets it create the private cluster when the data dir
	// has none (see App.databaseURL).
	createCluster bool
}

// parse parses args for sp: a flag set with only the settings sp uses, so -h
// lists those alone. Flags may come before, between or after the
// arguments, as people type them; "--" ends the flags.
func (a *App) parse(sp spec, args []string) (*Config, []string, error) {
	fs := flag.NewFlagSet("geoseek "+sp.name, flag.ContinueOnError)
	fs.SetOutput(a.Stderr)
	var c, unused Config
	bindConfig(fs, a.Getenv, &c, sp.groups)
	if sp.flags != nil {
		sp.flags(fs)
	}
	// The help lists the flags bound so far. The settings of other
	// commands are accepted too, so a script that passes one command's
	// flags to another keeps working, but they are not listed, checked or
	// used, and a note says so.
	listed := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { listed[f.Name] = true })
	bindConfig(fs, a.Getenv, &unused, ^sp.groups)
	fs.Usage = func() { printUsage(fs, listed, sp) }
	flags, pos := splitArgs(fs, args)
	if err := fs.Parse(flags); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil, err
		}
		// The flag package has printed the error and the usage.
		return nil, nil, usageError{fmt.Errorf("%s: %w", sp.name, err)}
	}
	fs.Visit(func(f *flag.Flag) {
		if !listed[f.Name] {
			fmt.Fprintf(a.Stderr, "geoseek %s: --%s does not apply to this command; ignored\n", sp.name, f.Name)
		}
	})
	switch {
	case len(pos) < sp.minArgs:
		return nil, nil, usageError{fmt.Errorf("%s: missing argument: geoseek %s [flags] %s", sp.name, sp.name, sp.args)}
	case sp.maxArgs >= 0 && len(pos) > sp.maxArgs:
		extra := pos[sp.maxArgs:]
		if sp.maxArgs == 0 {
			return nil, nil, usageError{fmt.Errorf("%s takes no arguments, got %q (see geoseek %s -h)", sp.name, strings.Join(extra, " "), sp.name)}
		}
		return nil, nil, usageError{fmt.Errorf("%s: unexpected argument %q: geoseek %s [flags] %s", sp.name, strings.Join(extra, " "), sp.name, sp.args)}
	}
	if err := c.Validate(); err != nil {
		return nil, nil, usageError{err}
	}
	return &c, pos, nil
}

// splitArgs separates flags (with their values) from arguments, so flags are
// read wherever they stand. A flag of fs that takes a value takes the next
// word unless it is written -name=value; an unknown flag is kept for Parse
// to report; everything after "--" is an argument.
func splitArgs(fs *flag.FlagSet, args []string) (flags, pos []string) {
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			return flags, append(pos, args[i+1:]...)
		}
		if len(arg) < 2 || arg[0] != '-' {
			pos = append(pos, arg)
			continue
		}
		flags = append(flags, arg)
		name := strings.TrimPrefix(strings.TrimPrefix(arg, "-"), "-")
		if strings.Contains(name, "=") {
			continue
		}
		if takesValue(fs, name) && i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	return flags, pos
}

// takesValue reports whether the flag name of fs needs a value (it is
// defined and not boolean).
func takesValue(fs *flag.FlagSet, name string) bool {
	f := fs.Lookup(name)
	if f == nil {
		return false
	}
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return !ok || !b.IsBoolFlag()
}

// printUsage writes the -h of sp: its usage line, what it does and the flags
// in listed, in the flag package's format.
func printUsage(fs *flag.FlagSet, listed map[string]bool, sp spec) {
	w := fs.Output()
	line := "geoseek " + sp.name + " [flags]"
	if sp.args != "" {
		line += " " + sp.args
	}
	fmt.Fprintf(w, "Usage: %s\n\n%s\n\n", line, sp.about)
	fmt.Fprintln(w, "Flags may come before or after the arguments; -- ends them. A flag whose help names")
	fmt.Fprintln(w, "an environment variable ($NAME) can be set with it too; a flag given wins.")
	fmt.Fprintln(w)
	shown := flag.NewFlagSet("", flag.ContinueOnError)
	shown.SetOutput(w)
	fs.VisitAll(func(f *flag.Flag) {
		if listed[f.Name] {
			shown.Var(f.Value, f.Name, f.Usage)
			shown.Lookup(f.Name).DefValue = f.DefValue
		}
	})
	shown.PrintDefaults()
}

// splitSubcommand finds the subcommand of a command group (keys, db): the
// first word that is neither a flag of common nor the value of one. The words around it are returned in
// order, for the subcommand's own parse.
func splitSubcommand(common *flag.FlagSet, args []string) (sub string, rest []string, err error) {
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			break
		}
		if len(arg) < 2 || arg[0] != '-' {
			return arg, append(append([]string(nil), args[:i]...), args[i+1:]...), nil
		}
		name := strings.TrimPrefix(strings.TrimPrefix(arg, "-"), "-")
		if name == "h" || name == "help" {
			return "", nil, flag.ErrHelp
		}
		if k, _, ok := strings.Cut(name, "="); ok {
			name = k
		}
		if common.Lookup(name) == nil {
			return "", nil, fmt.Errorf("flag %s before the subcommand: name the subcommand first", arg)
		}
		if !strings.Contains(arg, "=") && takesValue(common, name) {
			i++
		}
	}
	return "", nil, errors.New("no subcommand given")
}

// groupUsage is the -h of a command group such as keys.
func (a *App) groupUsage(name string, subs []spec) {
	fmt.Fprintf(a.Stderr, "Usage: geoseek %s <subcommand> [flags] [arguments]\n\nSubcommands:\n", name)
	for _, sp := range subs {
		line := sp.name
		if sp.args != "" {
			line += " " + sp.args
		}
		fmt.Fprintf(a.Stderr, "  %-28s %s\n", line, sp.short)
	}
	fmt.Fprintf(a.Stderr, "\nRun 'geoseek %s <subcommand> -h' for its flags.\n", name)
}

// dispatch picks the subcommand of a group (keys, db) from args and returns
// its spec and the remaining words.
func (a *App) dispatch(name string, subs []spec, args []string) (spec, []string, error) {
	// Every shared setting may stand before the subcommand (the
	// subcommand's own parse says which do not apply to it).
	common := flag.NewFlagSet("", flag.ContinueOnError)
	var c Config
	bindConfig(common, a.Getenv, &c, ^group(0))
	sub, rest, err := splitSubcommand(common, args)
	if errors.Is(err, flag.ErrHelp) {
		a.groupUsage(name, subs)
		return spec{}, nil, err
	}
	if err != nil {
		a.groupUsage(name, subs)
		return spec{}, nil, usageError{fmt.Errorf("%s: %w", name, err)}
	}
	for _, sp := range subs {
		if sp.name == name+" "+sub {
			return sp, rest, nil
		}
	}
	a.groupUsage(name, subs)
	return spec{}, nil, usageError{fmt.Errorf("%s: unknown subcommand %q", name, sub)}
}
