package search

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/geoseek/geoseek/internal/problem"
)

// cursor is the position after the last hit of a page: the sort key's value
// (JSON: a number, an RFC 3339 string, a JSON value for props, or null) and
// the id. It is bound to the query it came from by Hash, so a cursor cannot
// be replayed against a different query or sort.
type cursor struct {
	V    int             `json:"v"`
	Hash string          `json:"h"`
	Key  json.RawMessage `json:"k"`
	ID   int64           `json:"i"`
	// Seen counts the hits served before this page (for the candidate window).
	Seen int `json:"n"`
	// Strategy is the keyword ranking strategy of the first page.
	Strategy Strategy `json:"s,omitempty"`
	// Typo says the first page corrected every eligible word (it found
	// nothing as typed), so the next pages do too.
	Typo bool `json:"t,omitempty"`
}

// encodeCursor makes the opaque token: base64url(JSON) "." base64url(HMAC).
// The HMAC makes it tamper-evident; every value in it is still bound as a
// parameter, so even a forged cursor could not inject SQL.
func encodeCursor(secret []byte, c cursor) string {
	c.V = 1
	b, _ := json.Marshal(c)
	m := hmac.New(sha256.New, secret)
	m.Write(b)
	return base64.RawURLEncoding.EncodeToString(b) + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// decodeCursor checks and decodes a token made by encodeCursor for the query
// whose hash is want.
func decodeCursor(secret []byte, s, want string) (cursor, error) {
	var c cursor
	payload, sig, ok := strings.Cut(s, ".")
	if !ok {
		return c, problem.Invalid("cursor", "malformed cursor")
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return c, problem.Invalid("cursor", "malformed cursor")
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return c, problem.Invalid("cursor", "malformed cursor")
	}
	m := hmac.New(sha256.New, secret)
	m.Write(b)
	if !hmac.Equal(got, m.Sum(nil)[:16]) {
		return c, problem.Invalid("cursor", "cursor was not issued by this server (or it was altered, or the server's cursor secret changed)")
	}
	if err := json.Unmarshal(b, &c); err != nil || c.V != 1 {
		return c, problem.Invalid("cursor", "malformed cursor")
	}
	if c.Hash != want {
		return c, problem.Invalid("cursor", "cursor belongs to a different query; repeat the same query, sort and filters with it")
	}
	return c, nil
}

// hash identifies everything in q that decides the order and the matched set
// (not the page size, facets or output format), so a cursor is only accepted
// for the query that issued it.
func (q *Query) hash() string {
	h := sha256.New()
	a := &Args{}
	where := ""
	if q.Filter != nil {
		where = q.Filter.Compile(a)
	}
	vals, _ := json.Marshal(a.Values())
	parts := []any{q.Collection, q.Mode, q.Text, q.Lang, q.Prefix, q.Sort.String(), q.Point, where, string(vals), vectorDigest(q.Vector), q.SemanticRatio, q.MinSimilarity}
	b, _ := json.Marshal(parts)
	h.Write(b)
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:12])
}
