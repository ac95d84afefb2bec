// Package textcheck refuses text that is not valid UTF-8, or that holds NUL
// characters, where geoseek reads it: request bodies in a JSON media type,
// query parameters and path segments. encoding/json and PostgreSQL would
// otherwise replace invalid bytes with U+FFFD or fail with an internal
// error; either way a client's data would not be stored as sent. A refusal
// is a *problem.ValidationError (400) naming the parameter or the body's
// byte offset.
package textcheck

import (
	"io"
	"mime"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/geoseek/geoseek/internal/httpx"
	"github.com/geoseek/geoseek/internal/problem"
)

// Middleware refuses a request whose path or query parameters are not valid
// UTF-8 or hold a NUL, and wraps a body of a textual media type (JSON,
// GeoJSON, NDJSON, text) in a Reader, so that a handler reading it gets a
// validation error at the first invalid byte instead of text in which the
// bytes were replaced.
func Middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := Query(c.Request.URL); err != nil {
			httpx.Respond(c, err)
			return
		}
		if c.Request.Body != nil {
			switch textual(c.GetHeader("Content-Type")) {
			case kindJSON:
				c.Request.Body = &body{r: NewJSONReader(c.Request.Body, "body"), c: c.Request.Body}
			case kindText:
				c.Request.Body = &body{r: NewReader(c.Request.Body, "body"), c: c.Request.Body}
			}
		}
		c.Next()
	}
}

// Query checks u's path and query parameters.
func Query(u *url.URL) error {
	if err := String("path", u.Path); err != nil {
		return err
	}
	if u.RawQuery == "" {
		return nil
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return problem.Invalid("query", "malformed query string: %v", err)
	}
	for k, vs := range q {
		if err := String("query parameter name", k); err != nil {
			return err
		}
		for _, v := range vs {
			if err := String(k, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// String refuses s when it is not valid UTF-8 or holds a NUL; field names
// it in the error.
func String(field, s string) error {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return problem.InvalidAt(field, i, `NUL characters (\u0000) are not allowed in text`)
	}
	if !utf8.ValidString(s) {
		return problem.InvalidAt(field, invalidAt([]byte(s)), "not valid UTF-8")
	}
	return nil
}

const (
	kindOther = iota
	kindJSON
	kindText
)

func textual(ct string) int {
	if ct == "" {
		return kindOther
	}
	mt, _, err := mime.ParseMediaType(ct)
	switch {
	case err != nil:
		return kindOther
	case mt == "application/json" || strings.HasSuffix(mt, "+json") || strings.HasSuffix(mt, "json-seq") ||
		strings.HasSuffix(mt, "ndjson") || mt == "application/jsonl":
		return kindJSON
	case strings.HasPrefix(mt, "text/"):
		return kindText
	}
	return kindOther
}

// body keeps the original body's Close.
type body struct {
	r io.Reader
	c io.Closer
}

func (b *body) Read(p []byte) (int, error) { return b.r.Read(p) }
func (b *body) Close() error               { return b.c.Close() }

// Reader passes bytes through and fails at the first byte that is not
// part of valid UTF-8, with a *problem.ValidationError for field giving the
// byte offset. A character split between two reads is held back until it
// is complete.
type Reader struct {
	r     io.Reader
	field string
	off   int64  // offset of buf[0] in the stream
	buf   []byte // read from r: ready[:] is checked, buf[len(checked):] a cut character
	ready []byte // checked bytes not handed out yet
	out   []byte // ready's backing array, reused
	err   error
	json  *escapes // set for JSON text: checks \u escapes
}

// NewReader returns a Reader over r.
func NewReader(r io.Reader, field string) *Reader {
	return &Reader{r: r, field: field}
}

// NewJSONReader returns a Reader over JSON text that also refuses a \u
// escape of half a UTF-16 surrogate pair, which encoding/json would
// otherwise replace with U+FFFD.
func NewJSONReader(r io.Reader, field string) *Reader {
	return &Reader{r: r, field: field, json: &escapes{}}
}

func (v *Reader) Read(p []byte) (int, error) {
	for len(v.ready) == 0 {
		if v.err != nil {
			return 0, v.err
		}
		v.fill()
	}
	n := copy(p, v.ready)
	v.ready = v.ready[n:]
	return n, nil
}

// fill reads the next piece of r and checks it.
func (v *Reader) fill() {
	if v.buf == nil {
		v.buf = make([]byte, 0, 32<<10)
	}
	n, err := v.r.Read(v.buf[len(v.buf):cap(v.buf)])
	b := v.buf[:len(v.buf)+n]
	ok, partial := validPrefix(b)
	switch {
	case ok < len(b) && !partial:
		v.err = v.invalid(ok, "not valid UTF-8 (byte offset %d); send text in UTF-8")
	case ok < len(b) && err != nil:
		v.err = v.invalid(ok, "not valid UTF-8: the text ends inside a character (byte offset %d)")
	case err != nil:
		v.err = err
	}
	if v.json != nil {
		if at, bad := v.json.scan(b[:ok], v.off, err != nil); bad {
			v.err = problem.InvalidAt(v.field, int(at), "a \\u escape at byte offset %d is half of a UTF-16 surrogate pair; characters beyond U+FFFF are written as a pair (or as UTF-8)", at)
			ok = max(0, int(at-v.off))
		}
	}
	// Hand out the checked bytes from a copy; keep the cut character.
	v.out = append(v.out[:0], b[:ok]...)
	v.ready = v.out
	v.off += int64(ok)
	v.buf = append(v.buf[:0], b[ok:]...)
}

func (v *Reader) invalid(at int, format string) error {
	pos := v.off + int64(at)
	return problem.InvalidAt(v.field, int(pos), format, pos)
}

// validPrefix returns the length of b's longest valid UTF-8 prefix, and
// whether what follows it is only the start of a character cut off by the
// end of b.
func validPrefix(b []byte) (int, bool) {
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i, !utf8.FullRune(b[i:])
		}
		i += size
	}
	return len(b), false
}

// invalidAt is the byte offset of s's first invalid UTF-8 byte.
func invalidAt(b []byte) int {
	n, _ := validPrefix(b)
	return n
}

// escapes follows \u escapes through JSON text, across reads, to find a
// surrogate that is not part of a high-low pair.
type escapes struct {
	esc     bool   // the last byte was an unescaped backslash
	hex     int    // hex digits of a \u escape still to come
	unit    uint16 // the escape's code unit so far
	start   int64  // offset of the escape's backslash
	needLow bool   // a high surrogate must be followed by a low one
	highAt  int64  // offset of that high surrogate
}

// scan reads b, which starts at offset base, and returns the offset of the
// first unpaired surrogate escape; end says no text follows b.
func (s *escapes) scan(b []byte, base int64, end bool) (int64, bool) {
	for i, c := range b {
		off := base + int64(i)
		switch {
		case s.hex > 0:
			d := unhex(c)
			if d < 0 { // not JSON: the decoder reports it
				s.hex = 0
				continue
			}
			s.unit = s.unit<<4 | uint16(d)
			if s.hex--; s.hex > 0 {
				continue
			}
			high, low := s.unit >= 0xD800 && s.unit <= 0xDBFF, s.unit >= 0xDC00 && s.unit <= 0xDFFF
			switch {
			case s.needLow && !low:
				return s.highAt, true
			case s.needLow:
				s.needLow = false
			case low:
				return s.start, true
			case high:
				s.needLow, s.highAt = true, s.start
			}
		case s.esc:
			s.esc = false
			if c == 'u' {
				s.hex, s.unit = 4, 0
			} else if s.needLow {
				return s.highAt, true
			}
		case c == '\\':
			s.esc, s.start = true, off
		case s.needLow:
			return s.highAt, true
		}
	}
	if end && s.needLow {
		return s.highAt, true
	}
	return 0, false
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
