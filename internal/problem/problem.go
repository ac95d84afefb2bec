// Package problem holds geoseek's domain errors and their one mapping to
// RFC 9457 problem details (application/problem+json). Domain packages return
// these errors (wrapped with %w as they like); HTTP handlers pass any error to
// internal/httpx.Respond, which takes the status and a stable `type` URI from
// From. Unexpected errors are logged once, there, and answered with a generic
// 500 that leaks nothing. The package knows nothing of the router, so a domain
// without HTTP handlers can use its errors without depending on Gin.
package problem

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// TypeBase prefixes every problem type URI. The URIs are identifiers, stable
// across releases; docs/errors.md describes each.
const TypeBase = "https://geoseek.dev/problems/"

// Sentinel domain errors. Wrap them with fmt.Errorf("...: %w", ErrX).
var (
	ErrNotFound         = &Kind{Slug: "not-found", Status: http.StatusNotFound, Title: "Not found"}
	ErrConflict         = &Kind{Slug: "conflict", Status: http.StatusConflict, Title: "Conflict"}
	ErrUnauthorized     = &Kind{Slug: "unauthorized", Status: http.StatusUnauthorized, Title: "Missing or invalid API key"}
	ErrForbidden        = &Kind{Slug: "forbidden", Status: http.StatusForbidden, Title: "API key lacks the required scope"}
	ErrTooLarge         = &Kind{Slug: "too-large", Status: http.StatusRequestEntityTooLarge, Title: "Request too large"}
	ErrUnsupportedMedia = &Kind{Slug: "unsupported-media-type", Status: http.StatusUnsupportedMediaType, Title: "Unsupported media type"}
	ErrNotAcceptable    = &Kind{Slug: "not-acceptable", Status: http.StatusNotAcceptable, Title: "Not acceptable"}
	ErrUnavailable      = &Kind{Slug: "unavailable", Status: http.StatusServiceUnavailable, Title: "Service unavailable"}
	ErrExtensionMissing = &Kind{Slug: "extension-missing", Status: http.StatusServiceUnavailable, Title: "A required PostgreSQL extension is not installed"}
	ErrTimeout          = &Kind{Slug: "timeout", Status: http.StatusServiceUnavailable, Title: "The query took too long"}
	ErrRateLimited      = &Kind{Slug: "rate-limited", Status: http.StatusTooManyRequests, Title: "Too many requests"}
	ErrBodyTimeout      = &Kind{Slug: "request-timeout", Status: http.StatusRequestTimeout, Title: "The request body arrived too slowly"}
	ErrMethod           = &Kind{Slug: "method-not-allowed", Status: http.StatusMethodNotAllowed, Title: "Method not allowed"}
	ErrInternal         = &Kind{Slug: "internal", Status: http.StatusInternalServerError, Title: "Internal server error"}
)

// Kind is a class of error with a stable type URI and an HTTP status.
type Kind struct {
	Slug   string
	Status int
	Title  string
}

func (k *Kind) Error() string { return k.Title }

// Type is the problem type URI.
func (k *Kind) Type() string { return TypeBase + k.Slug }

// ValidationError says which input was wrong and why. Field names the query
// parameter or JSON path; Pos, when >= 0, is a 0-based character offset in that
// field's value (for parsers such as CQL2 or websearch syntax).
type ValidationError struct {
	Field  string
	Pos    int
	Reason string
}

// Invalid returns a ValidationError with no position.
func Invalid(field, format string, args ...any) *ValidationError {
	return &ValidationError{Field: field, Pos: -1, Reason: fmt.Sprintf(format, args...)}
}

// InvalidAt returns a ValidationError at a position within the field's value.
func InvalidAt(field string, pos int, format string, args ...any) *ValidationError {
	return &ValidationError{Field: field, Pos: pos, Reason: fmt.Sprintf(format, args...)}
}

func (e *ValidationError) Error() string {
	if e.Pos >= 0 {
		return fmt.Sprintf("%s: at position %d: %s", e.Field, e.Pos, e.Reason)
	}
	if e.Field == "" {
		return e.Reason
	}
	return fmt.Sprintf("%s: %s", e.Field, e.Reason)
}

// Details is the RFC 9457 body. Extension members carry the failing field and
// position for validation errors, and the request id for correlation.
type Details struct {
	Type      string         `json:"type"`
	Title     string         `json:"title"`
	Status    int            `json:"status"`
	Detail    string         `json:"detail,omitempty"`
	Instance  string         `json:"instance,omitempty"`
	Field     string         `json:"field,omitempty"`
	Position  *int           `json:"position,omitempty"`
	RequestID string         `json:"request_id,omitempty"`
	Errors    []Details      `json:"errors,omitempty"`
	Extra     map[string]any `json:"-"`
}

// MarshalJSON flattens Extra into the object, as RFC 9457 extension members.
func (d Details) MarshalJSON() ([]byte, error) {
	type plain Details
	b, err := json.Marshal(plain(d))
	if err != nil || len(d.Extra) == 0 {
		return b, err
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for k, v := range d.Extra {
		if _, taken := m[k]; !taken {
			m[k] = v
		}
	}
	return json.Marshal(m)
}

// ValidationType is the type URI of every ValidationError.
const ValidationType = TypeBase + "invalid-request"

// From maps any error to problem details. The second result is false for an
// unexpected error (the caller logs it; its text is not sent).
func From(err error) (Details, bool) {
	var ve *ValidationError
	if errors.As(err, &ve) {
		d := Details{Type: ValidationType, Title: "Invalid request", Status: http.StatusBadRequest, Detail: ve.Error(), Field: ve.Field}
		if ve.Pos >= 0 {
			p := ve.Pos
			d.Position = &p
		}
		return d, true
	}
	var k *Kind
	if errors.As(err, &k) && k != ErrInternal {
		d := Details{Type: k.Type(), Title: k.Title, Status: k.Status, Detail: detail(err, k)}
		var tr *translated
		if errors.As(err, &tr) {
			d.Detail = tr.msg
		}
		return d, true
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return Details{Type: ErrTooLarge.Type(), Title: ErrTooLarge.Title, Status: ErrTooLarge.Status,
			Detail: fmt.Sprintf("the request body is larger than %d bytes", mbe.Limit)}, true
	}
	if errors.Is(err, context.Canceled) {
		// The client went away; 499 in logs, nobody reads the body.
		return Details{Type: TypeBase + "client-closed", Title: "Client closed request", Status: 499}, true
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return Details{Type: ErrTimeout.Type(), Title: ErrTimeout.Title, Status: ErrTimeout.Status}, true
	}
	return Details{Type: ErrInternal.Type(), Title: ErrInternal.Title, Status: http.StatusInternalServerError}, false
}

// detail is the error text unless it is just the kind's own title. Text a
// database error contributed is cut off: PostgreSQL's own messages (and
// SQLSTATE codes) speak of the schema, not of the request.
func detail(err error, k *Kind) string {
	s := err.Error()
	var sqlErr interface{ SQLState() string }
	if errors.As(err, &sqlErr) {
		cut, _, found := strings.Cut(s, sqlErr.(error).Error())
		if !found {
			return ""
		}
		s = strings.TrimRight(strings.TrimSuffix(strings.TrimRight(cut, ": \n"), k.Title), ": \n")
	}
	if s == k.Title {
		return ""
	}
	return s
}

// ContentType is the RFC 9457 media type.
const ContentType = "application/problem+json"

// Translate returns an error of kind k whose problem detail is msg (none
// when msg is ""), whatever wraps it: cause, a driver error say, stays in
// the chain for errors.Is/As and for logs, but its text is never sent.
func Translate(k *Kind, msg string, cause error) error {
	return &translated{kind: k, msg: msg, cause: cause}
}

type translated struct {
	kind  *Kind
	msg   string
	cause error
}

func (e *translated) Error() string {
	m := e.msg
	if m == "" {
		m = e.kind.Title
	}
	if e.cause == nil {
		return m
	}
	return m + ": " + e.cause.Error()
}

func (e *translated) Unwrap() []error { return []error{e.kind, e.cause} }

// Wrap returns an error of kind k whose detail is msg.
func Wrap(k *Kind, msg string) error { return &kindError{kind: k, msg: msg} }

type kindError struct {
	kind *Kind
	msg  string
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }
