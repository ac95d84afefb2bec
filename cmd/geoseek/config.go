package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/geoseek/geoseek/internal/logging"
	"github.com/geoseek/geoseek/web"
)

// Config is geoseek's configuration, from flags and GEOSEEK_* environment
// variables (a flag given on the command line wins over the environment).
// These names are an interface: scripts and load balancers rely on them.
type Config struct {
	Addr               string
	DatabaseURL        string
	DataDir            string
	LogLevel           string
	LogFormat          string
	LogFlush           time.Duration // serve: how long lines below Warn may wait
	PoolSize           int
	StatementTimeout   time.Duration
	RequestTimeout     time.Duration
	ShutdownGrace      time.Duration
	RequireKeyForReads bool
	PGPort             int

	BaseURL     string
	TileCacheMB int
	// MaxStreamsPerKey caps the bulk loads and imports one key runs at once.
	MaxStreamsPerKey int
	TrustedProxies   []string
	Places           bool
	CursorSecret     string
	MaxUploadBytes   int64
	MaxUploadFiles   int
	// MapStyleURL is an online MapLibre style for the map pages (default:
	// the offline base map).
	MapStyleURL string

	// The HTTP edge: load shedding, pool wait, body pace, rate limits, CORS.
	MaxInFlight        int
	DBAcquireTimeout   time.Duration
	BodyReadTimeout    time.Duration
	BodyMinRate        int
	RateLimitIP        int
	RateLimitIPBurst   int
	RateLimitKey       int
	RateLimitKeyBurst  int
	AuthFailuresPerMin int
	CORSOrigins        []string

	Embedder       string
	EmbedderURL    string
	EmbedderModel  string
	EmbedderAPIKey string
	EmbedderDim    int
	EmbedderRPS    float64
	// EmbedSweepInterval is how often documents without a vector are embedded.
	EmbedSweepInterval time.Duration

	// Upload is the settings of the upload client (gClient).
	Upload UploadConfig

	// Resumable uploads and the originals store's sweeps (serve).
	UploadExpiry        time.Duration
	UploadSweepInterval time.Duration
	UploadIdleTimeout   time.Duration
	OrphanSweepInterval time.Duration
	OrphanAge           time.Duration
	DecodeBudgetMB      int

	// groups are the settings bound by bindConfig; Validate checks those.
	groups group
	// finish converts flags that need parsing after fs.Parse.
	finish func() error
}

// group is a set of settings; each subcommand binds the groups it uses, so
// its -h lists only those and Validate checks only those.
type group uint

const (
	gDatabaseURL group = 1 << iota // --database-url
	gDataDir                       // --data-dir
	gPGPort                        // --pg-port: only commands that may create the private cluster
	gLog                           // --log-level, --log-format
	gPool                          // --db-pool-size, --statement-timeout
	gServe                         // the HTTP server's settings
	gUpload                        // --max-upload-bytes, --max-upload-files
	gEmbed                         // the embedder's settings
	gClient                        // the upload client's settings (--server, --key, ...)
)

// gDatabase is what a command that only talks to the database needs.
const gDatabase = gDatabaseURL | gDataDir | gLog

// envVar documents one setting: its flag, its environment variable, its help.
type envVar struct{ flag, env, help string }

// bindConfig defines on fs the flags of the groups in groups, with defaults
// taken from the environment; settings of other groups keep their zero
// value and are not validated.
func bindConfig(fs *flag.FlagSet, getenv func(string) string, c *Config, groups group) *[]envVar {
	c.groups = groups
	b := &binder{fs: fs, getenv: getenv, vars: &[]envVar{}}
	var finish []func() error
	b.bindCommon(c, groups)
	if groups&gServe != 0 {
		finish = append(finish, b.bindServe(c)...)
	}
	if groups&gUpload != 0 {
		var maxUpload int
		b.integer(&maxUpload, "max-upload-bytes", "GEOSEEK_MAX_UPLOAD_BYTES", 200<<20, "largest photo file accepted")
		b.integer(&c.MaxUploadFiles, "max-upload-files", "GEOSEEK_MAX_UPLOAD_FILES", 100, "most files in one upload request")
		finish = append(finish, func() error {
			c.MaxUploadBytes = int64(maxUpload)
			return nil
		})
	}
	if groups&gEmbed != 0 {
		finish = append(finish, b.bindEmbed(c))
	}
	if groups&gClient != 0 {
		finish = append(finish, bindClient(&c.Upload, b.str, b.integer, b.boolean, b.secret, b.dur))
	}
	c.finish = func() error {
		for _, f := range b.secrets {
			f()
		}
		var errs []error
		for _, f := range finish {
			if err := f(); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	return b.vars
}

// binder binds flags that default to an environment variable and records
// each pair for the help text.
type binder struct {
	fs      *flag.FlagSet
	getenv  func(string) string
	vars    *[]envVar
	secrets []func()
}

// taken reports whether the command defines a flag of that name itself (its
// own flag wins).
func (b *binder) taken(name string) bool { return b.fs.Lookup(name) != nil }

func (b *binder) str(p *string, name, env, def, help string) {
	if b.taken(name) {
		return
	}
	if v := b.getenv(env); v != "" {
		def = v
	}
	b.fs.StringVar(p, name, def, help+" ($"+env+")")
	*b.vars = append(*b.vars, envVar{name, env, help})
}

func (b *binder) dur(p *time.Duration, name, env string, def time.Duration, help string) {
	if b.taken(name) {
		return
	}
	if v := b.getenv(env); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			def = d
		} else {
			// Reported by Validate with the variable's name.
			def = -1
		}
	}
	b.fs.DurationVar(p, name, def, help+" ($"+env+")")
	*b.vars = append(*b.vars, envVar{name, env, help})
}

func (b *binder) integer(p *int, name, env string, def int, help string) {
	if b.taken(name) {
		return
	}
	if v := b.getenv(env); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			def = n
		} else {
			def = -1
		}
	}
	b.fs.IntVar(p, name, def, help+" ($"+env+")")
	*b.vars = append(*b.vars, envVar{name, env, help})
}

func (b *binder) boolean(p *bool, name, env string, help string) {
	if b.taken(name) {
		return
	}
	def, _ := strconv.ParseBool(b.getenv(env))
	b.fs.BoolVar(p, name, def, help+" ($"+env+")")
	*b.vars = append(*b.vars, envVar{name, env, help})
}

// secret binds a flag read from the environment only after parsing, so -h
// never prints it as a default.
func (b *binder) secret(p *string, name, env, help string) {
	if b.taken(name) {
		return
	}
	b.fs.StringVar(p, name, "", help+" ($"+env+")")
	*b.vars = append(*b.vars, envVar{name, env, help})
	b.secrets = append(b.secrets, func() {
		if *p == "" {
			*p = b.getenv(env)
		}
	})
}

// bindCommon binds the address, database, data dir, log and pool flags of
// the groups that have them.
func (b *binder) bindCommon(c *Config, groups group) {
	if groups&gServe != 0 {
		b.str(&c.Addr, "addr", "GEOSEEK_ADDR", "127.0.0.1:8080", "HTTP listen address")
	}
	if groups&gDatabaseURL != 0 {
		b.str(&c.DatabaseURL, "database-url", "DATABASE_URL", "", "PostgreSQL URL; empty uses the private cluster under <data-dir>/pg")
	}
	if groups&gDataDir != 0 {
		help := "directory of the private cluster (<data-dir>/pg), used when no database URL is given"
		if groups&(gServe|gUpload) != 0 {
			help = "directory for originals, uploads and the private cluster"
		}
		b.str(&c.DataDir, "data-dir", "GEOSEEK_DATA_DIR", "data", help)
	}
	if groups&gLog != 0 {
		b.str(&c.LogLevel, "log-level", "GEOSEEK_LOG_LEVEL", "info", "log level: debug, info, warn, error")
		b.str(&c.LogFormat, "log-format", "GEOSEEK_LOG_FORMAT", "text", "log format: text or json")
	}
	if groups&gServe != 0 {
		b.dur(&c.LogFlush, "log-flush", "GEOSEEK_LOG_FLUSH", time.Second, "longest time log lines below warn are buffered before they are written (warnings and errors write at once; 0: every line at once)")
	}
	if groups&gPool != 0 {
		b.integer(&c.PoolSize, "db-pool-size", "GEOSEEK_DB_POOL_SIZE", 16, "maximum database connections (the server opens two more for sampled facets)")
		b.dur(&c.StatementTimeout, "statement-timeout", "GEOSEEK_STATEMENT_TIMEOUT", 30*time.Second, "server-side limit on each SQL statement")
	} else {
		// Commands without these flags open a small pool with the usual limit.
		c.PoolSize, c.StatementTimeout = 4, 30*time.Second
	}
	if groups&gServe != 0 {
		b.dur(&c.RequestTimeout, "request-timeout", "GEOSEEK_REQUEST_TIMEOUT", 60*time.Second, "limit on each HTTP request (uploads excepted)")
		b.dur(&c.ShutdownGrace, "shutdown-grace", "GEOSEEK_SHUTDOWN_GRACE", 20*time.Second, "time in-flight requests and running jobs get to finish on shutdown")
		b.boolean(&c.RequireKeyForReads, "require-key-for-reads", "GEOSEEK_REQUIRE_KEY_FOR_READS", "read endpoints need an API key with the read scope too")
	}
	if groups&gPGPort != 0 {
		b.integer(&c.PGPort, "pg-port", "GEOSEEK_PG_PORT", 0, "first port tried for a new private cluster (default 54329)")
	}
}

// bindServe binds serve's own flags; it returns what must run after parsing.
func (b *binder) bindServe(c *Config) []func() error {
	var finish []func() error
	b.str(&c.BaseURL, "base-url", "GEOSEEK_BASE_URL", "", "public URL prefix for links in responses (default: from each request's Host)")
	var proxies string
	b.str(&proxies, "trusted-proxies", "GEOSEEK_TRUSTED_PROXIES", "", "comma-separated addresses or CIDRs of reverse proxies whose X-Forwarded-For names the client in access logs (default: none)")
	b.str(&c.MapStyleURL, "map-style-url", "GEOSEEK_MAP_STYLE_URL", "", "online MapLibre style URL for /map and the HTML pages; its origin is allowed by their Content-Security-Policy (default: the offline base map from the loaded Natural Earth places)")
	b.integer(&c.TileCacheMB, "tile-cache-mb", "GEOSEEK_TILE_CACHE_MB", 64, "memory for rendered vector tiles, kept coherent by LISTEN/NOTIFY (0: no cache)")
	b.integer(&c.MaxStreamsPerKey, "max-streams-per-key", "GEOSEEK_MAX_STREAMS_PER_KEY", 4, "streaming writes (NDJSON bulk loads, GeoJSON imports) one API key may run at once; more are answered 429 (0: no cap)")
	b.dur(&c.EmbedSweepInterval, "embed-sweep-interval", "GEOSEEK_EMBED_SWEEP_INTERVAL", 30*time.Second, "how often documents still without a vector are embedded")
	b.dur(&c.UploadExpiry, "upload-expiry", "GEOSEEK_UPLOAD_EXPIRY", 24*time.Hour, "a resumable upload not written to for this long is removed, finished or not")
	b.dur(&c.UploadSweepInterval, "upload-sweep-interval", "GEOSEEK_UPLOAD_SWEEP_INTERVAL", 10*time.Minute, "how often expired resumable uploads are removed")
	b.dur(&c.UploadIdleTimeout, "upload-idle-timeout", "GEOSEEK_UPLOAD_IDLE_TIMEOUT", time.Minute, "a resumable upload's PATCH ends when its client sends nothing for this long (the upload resumes from what arrived)")
	b.dur(&c.OrphanSweepInterval, "orphan-sweep-interval", "GEOSEEK_ORPHAN_SWEEP_INTERVAL", time.Hour, "how often the originals store is swept of crash leftovers (stale temp files, originals without a row)")
	b.integer(&c.DecodeBudgetMB, "decode-budget-mb", "GEOSEEK_DECODE_BUDGET_MB", 512, "memory that images being decoded for thumbnails may take at once (width × height × bytes per pixel); larger images wait, or get no thumbnail if they need more than all of it")
	b.dur(&c.OrphanAge, "orphan-age", "GEOSEEK_ORPHAN_AGE", time.Hour, "a temp file of an upload no request holds, not written to for this long, is a crash leftover")
	c.Places = true
	if v := b.getenv("GEOSEEK_PLACES"); v != "" {
		c.Places, _ = strconv.ParseBool(v)
	}
	b.fs.BoolVar(&c.Places, "places", c.Places, "load Natural Earth place names into PostGIS at start-up, to name photo locations ($GEOSEEK_PLACES)")
	*b.vars = append(*b.vars, envVar{"places", "GEOSEEK_PLACES", "load Natural Earth place names into PostGIS at start-up"})
	bindEdge(c, b.integer, b.dur, b.str, &finish)
	b.secret(&c.CursorSecret, "cursor-secret", "GEOSEEK_CURSOR_SECRET", "secret that signs search paging cursors (default: random per process)")
	return append(finish, func() error {
		c.TrustedProxies = nil
		for _, p := range strings.Split(proxies, ",") {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			_, errP := netip.ParsePrefix(p)
			_, errA := netip.ParseAddr(p)
			if errP != nil && errA != nil {
				return fmt.Errorf("--trusted-proxies/GEOSEEK_TRUSTED_PROXIES %q: want an IP address or CIDR", p)
			}
			c.TrustedProxies = append(c.TrustedProxies, p)
		}
		return nil
	})
}

// bindEmbed binds the default embedder's flags; it returns what must run
// after parsing.
func (b *binder) bindEmbed(c *Config) func() error {
	b.str(&c.Embedder, "embedder", "GEOSEEK_EMBEDDER", "offline", "default embedder of new collections: offline or openai")
	b.str(&c.EmbedderURL, "embedder-url", "GEOSEEK_EMBEDDER_URL", "", "OpenAI-compatible API root, e.g. http://127.0.0.1:11434/v1 (Ollama)")
	b.str(&c.EmbedderModel, "embedder-model", "GEOSEEK_EMBEDDER_MODEL", "", "model name sent to the OpenAI-compatible server")
	b.secret(&c.EmbedderAPIKey, "embedder-api-key", "GEOSEEK_EMBEDDER_API_KEY", "API key for the OpenAI-compatible server")
	b.integer(&c.EmbedderDim, "embedder-dim", "GEOSEEK_EMBEDDER_DIM", 0, "vector dimension of the OpenAI-compatible model (offline: 384)")
	var rps string
	b.str(&rps, "embedder-rps", "GEOSEEK_EMBEDDER_RPS", "0", "requests per second limit towards the embedding server (0: none)")
	return func() error {
		v, err := strconv.ParseFloat(rps, 64)
		if err != nil || v < 0 {
			return fmt.Errorf("--embedder-rps/GEOSEEK_EMBEDDER_RPS %q: want a number >= 0", rps)
		}
		c.EmbedderRPS = v
		return nil
	}
}

// Validate checks the settings of the groups bound and says precisely what
// is wrong.
func (c *Config) Validate() error {
	var errs []error
	if c.finish != nil {
		if err := c.finish(); err != nil {
			errs = append(errs, err)
		}
	}
	has := func(g group) bool { return c.groups&g != 0 }
	if has(gUpload) {
		if c.MaxUploadBytes < 1 {
			errs = append(errs, errors.New("--max-upload-bytes/GEOSEEK_MAX_UPLOAD_BYTES: want a positive number of bytes"))
		}
		if c.MaxUploadFiles < 1 {
			errs = append(errs, errors.New("--max-upload-files/GEOSEEK_MAX_UPLOAD_FILES: want a positive number"))
		}
	}
	if has(gEmbed) {
		if c.Embedder != "offline" && c.Embedder != "openai" {
			errs = append(errs, fmt.Errorf("--embedder/GEOSEEK_EMBEDDER %q: want offline or openai", c.Embedder))
		}
		if c.Embedder == "openai" && (c.EmbedderURL == "" || c.EmbedderModel == "" || c.EmbedderDim <= 0) {
			errs = append(errs, errors.New("GEOSEEK_EMBEDDER=openai needs GEOSEEK_EMBEDDER_URL, GEOSEEK_EMBEDDER_MODEL and GEOSEEK_EMBEDDER_DIM"))
		}
	}
	if has(gServe) && c.MapStyleURL != "" {
		if _, err := web.StyleOrigin(c.MapStyleURL); err != nil {
			errs = append(errs, fmt.Errorf("--map-style-url/GEOSEEK_MAP_STYLE_URL: %w", err))
		}
	}
	if has(gClient) {
		errs = append(errs, c.Upload.validate()...)
	}
	if has(gDataDir) && c.DataDir == "" {
		errs = append(errs, errors.New("--data-dir/GEOSEEK_DATA_DIR must not be empty"))
	}
	if has(gLog) {
		if _, err := parseLevel(c.LogLevel); err != nil {
			errs = append(errs, err)
		}
		if c.LogFormat != "text" && c.LogFormat != "json" {
			errs = append(errs, fmt.Errorf("--log-format/GEOSEEK_LOG_FORMAT %q: want text or json", c.LogFormat))
		}
	}
	if has(gPool) {
		if c.PoolSize < 1 || c.PoolSize > 1000 {
			errs = append(errs, fmt.Errorf("--db-pool-size/GEOSEEK_DB_POOL_SIZE %d: want 1 to 1000 (an unparsable value shows as -1)", c.PoolSize))
		}
		if c.StatementTimeout <= 0 {
			errs = append(errs, errors.New("--statement-timeout/GEOSEEK_STATEMENT_TIMEOUT: want a positive duration such as 30s or 2m"))
		}
	}
	if has(gServe) {
		errs = append(errs, c.validateServe()...)
	}
	if has(gPGPort) && (c.PGPort < 0 || c.PGPort > 65535) {
		errs = append(errs, fmt.Errorf("--pg-port/GEOSEEK_PG_PORT %d: want a port number", c.PGPort))
	}
	return errors.Join(errs...)
}

// validateServe checks serve's own settings.
func (c *Config) validateServe() []error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("--addr/GEOSEEK_ADDR %q: want host:port: %w", c.Addr, err))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"--request-timeout/GEOSEEK_REQUEST_TIMEOUT", c.RequestTimeout},
		{"--shutdown-grace/GEOSEEK_SHUTDOWN_GRACE", c.ShutdownGrace},
		{"--embed-sweep-interval/GEOSEEK_EMBED_SWEEP_INTERVAL", c.EmbedSweepInterval},
		{"--upload-expiry/GEOSEEK_UPLOAD_EXPIRY", c.UploadExpiry},
		{"--upload-sweep-interval/GEOSEEK_UPLOAD_SWEEP_INTERVAL", c.UploadSweepInterval},
		{"--upload-idle-timeout/GEOSEEK_UPLOAD_IDLE_TIMEOUT", c.UploadIdleTimeout},
		{"--orphan-sweep-interval/GEOSEEK_ORPHAN_SWEEP_INTERVAL", c.OrphanSweepInterval},
		{"--orphan-age/GEOSEEK_ORPHAN_AGE", c.OrphanAge},
	} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s: want a positive duration such as 30s or 2m", d.name))
		}
	}
	if c.LogFlush < 0 {
		errs = append(errs, errors.New("--log-flush/GEOSEEK_LOG_FLUSH: want 0 (write each line at once) or a duration such as 1s"))
	}
	errs = append(errs, c.validateEdge()...)
	if c.MaxStreamsPerKey < 0 {
		errs = append(errs, fmt.Errorf("--max-streams-per-key/GEOSEEK_MAX_STREAMS_PER_KEY %d: want 0 (no cap) or more", c.MaxStreamsPerKey))
	}
	if c.DecodeBudgetMB < 1 {
		errs = append(errs, fmt.Errorf("--decode-budget-mb/GEOSEEK_DECODE_BUDGET_MB %d: want a positive number of megabytes (an unparsable value shows as -1)", c.DecodeBudgetMB))
	}
	if c.TileCacheMB < 0 {
		errs = append(errs, fmt.Errorf("--tile-cache-mb/GEOSEEK_TILE_CACHE_MB %d: want 0 (off) or more megabytes (an unparsable value shows as -1)", c.TileCacheMB))
	}
	return errs
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(s))); err != nil {
		return 0, fmt.Errorf("--log-level/GEOSEEK_LOG_LEVEL %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// logger writes to w line by line; bufferedLogger holds lines below Warn
// for up to LogFlush, for the server's access log (see internal/logging).
func (c *Config) logger(w io.Writer) *slog.Logger {
	l, _ := c.bufferedLogger(w, 0)
	return l
}

func (c *Config) bufferedLogger(w io.Writer, flush time.Duration) (*slog.Logger, func() error) {
	lvl, _ := parseLevel(c.LogLevel)
	return logging.New(w, c.LogFormat, lvl, flush)
}
