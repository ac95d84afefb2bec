package main

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/geoseek/geoseek/internal/ratelimit"
	"github.com/geoseek/geoseek/internal/server"
)

// bindEdge binds the HTTP edge's settings (serve only); docs/operations.md
// lists them with their defaults.
func bindEdge(c *Config, integer func(*int, string, string, int, string), dur func(*time.Duration, string, string, time.Duration, string),
	str func(*string, string, string, string, string), finish *[]func() error) {
	integer(&c.MaxInFlight, "max-in-flight", "GEOSEEK_MAX_IN_FLIGHT", 64, "requests served at once (health probes excepted); more get 503 with Retry-After at once; about 4 × --db-pool-size keeps latency bounded under overload (0: no bound)")
	dur(&c.DBAcquireTimeout, "db-acquire-timeout", "GEOSEEK_DB_ACQUIRE_TIMEOUT", 2*time.Second, "longest a request waits for a free database connection before it gets 503 with Retry-After")
	dur(&c.BodyReadTimeout, "body-read-timeout", "GEOSEEK_BODY_READ_TIMEOUT", 30*time.Second, "time a request body gets before it must keep up --body-min-rate; slower bodies get 408 (0: no bound)")
	integer(&c.BodyMinRate, "body-min-rate", "GEOSEEK_BODY_MIN_RATE", 8192, "bytes per second a request body must average after --body-read-timeout")
	integer(&c.RateLimitIP, "rate-limit-ip", "GEOSEEK_RATE_LIMIT_IP", 100, "requests per second per client address without an API key (0: no limit)")
	integer(&c.RateLimitIPBurst, "rate-limit-ip-burst", "GEOSEEK_RATE_LIMIT_IP_BURST", 400, "requests a client address may make at once before --rate-limit-ip applies")
	integer(&c.RateLimitKey, "rate-limit-key", "GEOSEEK_RATE_LIMIT_KEY", 200, "requests per second per API key (0: no limit)")
	integer(&c.RateLimitKeyBurst, "rate-limit-key-burst", "GEOSEEK_RATE_LIMIT_KEY_BURST", 800, "requests a key may make at once before --rate-limit-key applies")
	integer(&c.AuthFailuresPerMin, "auth-failures-per-minute", "GEOSEEK_AUTH_FAILURES_PER_MINUTE", 20, "refused credentials a client address may send per minute (as a burst, refilled over the minute); past it requests with credentials get 429 (0: no limit)")
	var origins string
	str(&origins, "cors-origins", "GEOSEEK_CORS_ORIGINS", "", "comma-separated origins browsers may call the API from (https://maps.example.org; * for any); empty: no CORS")
	*finish = append(*finish, func() error {
		c.CORSOrigins = nil
		for _, o := range strings.Split(origins, ",") {
			o = strings.TrimRight(strings.TrimSpace(o), "/")
			if o == "" {
				continue
			}
			if o != "*" {
				u, err := url.Parse(o)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" {
					return fmt.Errorf("--cors-origins/GEOSEEK_CORS_ORIGINS %q: want an origin such as https://maps.example.org, or *", o)
				}
			}
			c.CORSOrigins = append(c.CORSOrigins, o)
		}
		return nil
	})
}

func (c *Config) validateEdge() []error {
	var errs []error
	for _, v := range []struct {
		name string
		n    int
	}{
		{"--max-in-flight/GEOSEEK_MAX_IN_FLIGHT", c.MaxInFlight},
		{"--body-min-rate/GEOSEEK_BODY_MIN_RATE", c.BodyMinRate},
		{"--rate-limit-ip/GEOSEEK_RATE_LIMIT_IP", c.RateLimitIP},
		{"--rate-limit-ip-burst/GEOSEEK_RATE_LIMIT_IP_BURST", c.RateLimitIPBurst},
		{"--rate-limit-key/GEOSEEK_RATE_LIMIT_KEY", c.RateLimitKey},
		{"--rate-limit-key-burst/GEOSEEK_RATE_LIMIT_KEY_BURST", c.RateLimitKeyBurst},
		{"--auth-failures-per-minute/GEOSEEK_AUTH_FAILURES_PER_MINUTE", c.AuthFailuresPerMin},
	} {
		if v.n < 0 {
			errs = append(errs, fmt.Errorf("%s %d: want 0 or more (an unparsable value shows as -1)", v.name, v.n))
		}
	}
	if c.DBAcquireTimeout <= 0 {
		errs = append(errs, errors.New("--db-acquire-timeout/GEOSEEK_DB_ACQUIRE_TIMEOUT: want a positive duration such as 2s"))
	}
	if c.BodyReadTimeout < 0 {
		errs = append(errs, errors.New("--body-read-timeout/GEOSEEK_BODY_READ_TIMEOUT: want 0 (no bound) or a duration such as 30s"))
	}
	return errs
}

// edge is the server's share of the edge settings.
func (c *Config) edge() (server.BodyLimits, server.RateLimits) {
	body := server.BodyLimits{Timeout: c.BodyReadTimeout, MinRate: int64(c.BodyMinRate)}
	rl := server.RateLimits{
		PerIP:  ratelimit.Config{Rate: float64(c.RateLimitIP), Burst: max(c.RateLimitIPBurst, 1)},
		PerKey: ratelimit.Config{Rate: float64(c.RateLimitKey), Burst: max(c.RateLimitKeyBurst, 1)},
	}
	if c.AuthFailuresPerMin > 0 {
		rl.AuthFailures = ratelimit.Config{Rate: float64(c.AuthFailuresPerMin) / 60, Burst: c.AuthFailuresPerMin}
	}
	return body, rl
}
