package document

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/geoseek/geoseek/internal/problem"
)

// A period has one JSON form wherever geoseek reads or writes one (the
// documents API, NDJSON bulk loads, search filters and search results):
//
//	{"from": "2024-01-01T00:00:00Z", "to": null, "bounds": "[)"}
//
// from and to are RFC 3339 timestamps or dates (midnight UTC); null or a
// missing member is unbounded. bounds says which ends are included, as in a
// PostgreSQL range literal: "[)" (the default), "[]", "()" or "(]"; an
// unbounded end is never included. An instant is {"from": t, "to": t,
// "bounds": "[]"}.

// DefaultBounds is the bounds of a period that names none.
const DefaultBounds = "[)"

// periodJSON is Period's JSON form.
type periodJSON struct {
	From   *time.Time `json:"from"`
	To     *time.Time `json:"to"`
	Bounds string     `json:"bounds"`
}

// Bounds is the period's bounds as in a range literal ("[)").
func (p *Period) Bounds() string {
	b := []byte("()")
	if p.LowerInc && p.Lower != nil {
		b[0] = '['
	}
	if p.UpperInc && p.Upper != nil {
		b[1] = ']'
	}
	return string(b)
}

// MarshalJSON writes the period as {"from", "to", "bounds"}.
func (p Period) MarshalJSON() ([]byte, error) {
	out := periodJSON{From: p.Lower, To: p.Upper, Bounds: p.Bounds()}
	if out.From != nil {
		t := out.From.UTC()
		out.From = &t
	}
	if out.To != nil {
		t := out.To.UTC()
		out.To = &t
	}
	return json.Marshal(out)
}

// oldPeriodNames are the member names of an earlier period form, refused
// with a pointer to the current ones.
var oldPeriodNames = map[string]string{
	"lower": `"from"`, "upper": `"to"`, "lower_inc": `"bounds" ("[)", "[]", "()" or "(]")`,
	"upper_inc": `"bounds" ("[)", "[]", "()" or "(]")`,
}

// ParsePeriodJSON parses a period object; field names it in errors.
func ParsePeriodJSON(field string, raw []byte) (*Period, error) {
	var m map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, problem.Invalid(field, `a period is an object {"from": time or null, "to": time or null, "bounds": "[)"}`)
	}
	var from, to, bounds *string
	for k, v := range m {
		var dst **string
		switch k {
		case "from":
			dst = &from
		case "to":
			dst = &to
		case "bounds":
			dst = &bounds
		default:
			if now, ok := oldPeriodNames[k]; ok {
				return nil, problem.Invalid(field+"."+k, `periods are written {"from", "to", "bounds"}: use %s`, now)
			}
			return nil, problem.Invalid(field+"."+k, `unknown period member (want "from", "to", "bounds")`)
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return nil, problem.Invalid(field+"."+k, "must be a string or null")
		}
	}
	b := DefaultBounds
	if bounds != nil {
		b = *bounds
	}
	if len(b) != 2 || (b[0] != '[' && b[0] != '(') || (b[1] != ']' && b[1] != ')') {
		return nil, problem.Invalid(field+".bounds", `must be one of "[)", "[]", "()", "(]", got %q`, b)
	}
	p := &Period{}
	var err error
	if p.Lower, err = parsePeriodTime(field+".from", from); err != nil {
		return nil, err
	}
	if p.Upper, err = parsePeriodTime(field+".to", to); err != nil {
		return nil, err
	}
	p.LowerInc = b[0] == '[' && p.Lower != nil
	p.UpperInc = b[1] == ']' && p.Upper != nil
	return p, nil
}

// parsePeriodTime reads an RFC 3339 timestamp or a date (midnight UTC);
// nil, "" and ".." are unbounded.
func parsePeriodTime(field string, s *string) (*time.Time, error) {
	if s == nil || *s == "" || *s == ".." {
		return nil, nil
	}
	var t time.Time
	var err error
	if len(*s) == len(time.DateOnly) {
		t, err = time.Parse(time.DateOnly, *s)
	} else {
		t, err = time.Parse(time.RFC3339Nano, *s)
	}
	if err != nil {
		v := *s
		if len(v) > 64 {
			v = v[:64] + "…"
		}
		return nil, problem.Invalid(field, "%q is not an RFC 3339 timestamp (2024-05-01T12:00:00Z) or a date (2024-05-01)", v)
	}
	if t.Year() < 1 || t.Year() > 9999 {
		return nil, problem.Invalid(field, "year out of range 1..9999")
	}
	return &t, nil
}
