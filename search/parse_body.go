package search

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strconv"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/geoseek/geoseek/internal/problem"
)

// The JSON form of a search request (POST /search) and of a filter tree
// (the body's filter member, and GET's filter parameter). Conditions are
// built with the constructors of parse_filter.go, as the query-string form
// (parse_values.go) builds them.

// Body is the POST /search JSON body.
type Body struct {
	Collection    string         `json:"collection"`
	Q             string         `json:"q"`
	Lang          string         `json:"lang"`
	Mode          string         `json:"mode"`
	Prefix        *bool          `json:"prefix"`
	Filter        jsontext.Value `json:"filter"`
	Sort          string         `json:"sort"`
	Point         []float64      `json:"point"`
	Limit         *int           `json:"limit"`
	Cursor        string         `json:"cursor"`
	Facets        *BodyFacets    `json:"facets"`
	Highlight     *bool          `json:"highlight"`
	Format        string         `json:"f"`
	Vector        jsontext.Value `json:"vector"`
	SemanticRatio *float64       `json:"semantic_ratio"`
	EfSearch      *int           `json:"ef_search"`
	MinSimilarity *float64       `json:"min_similarity"`
	Explain       bool           `json:"explain"`
}

// BodyFacets is the facets member of Body.
type BodyFacets struct {
	Tags  bool     `json:"tags"`
	Props []string `json:"props"`
	Limit *int     `json:"limit"`
}

// apply sets the facets of a query from the body's.
func (b *BodyFacets) apply(fc *Facets) error {
	fc.Tags = b.Tags
	for i, p := range b.Props {
		path, err := ParsePath("facets.props["+strconv.Itoa(i)+"]", p)
		if err != nil {
			return err
		}
		fc.Props = append(fc.Props, path)
	}
	if b.Limit != nil {
		fc.Limit = *b.Limit
	}
	return nil
}

// decodeBody decodes a POST /search body with json/v2 (one pass over the
// input, case-sensitive member names, duplicate and unknown members
// rejected), and when that fails, with encoding/json as before, which
// accepts member names in any case and gives the error with its position.
// Why: encoding/json reads every byte twice (once to find the value's end,
// once to decode it), which for a body carrying a 384-float query vector
// was half of ParseBody's time (docs/performance.md). FuzzDecodeBody checks
// that whatever json/v2 accepts, encoding/json accepts too and decodes the
// same.
func decodeBody(data []byte) (Body, error) {
	var b Body
	if jsonv2.Unmarshal(data, &b, jsonv2.RejectUnknownMembers(true)) == nil {
		return b, nil
	}
	b = Body{}
	err := decodeStrict(data, &b)
	return b, err
}

// ParseBody parses and validates a POST /search JSON body. Unknown members are
// rejected, so a misspelt option is an error rather than silently ignored.
func ParseBody(data []byte) (*Query, error) {
	b, err := decodeBody(data)
	if err != nil {
		return nil, jsonProblem("body", err)
	}
	q := defaults()
	q.Collection, q.Text, q.Lang, q.Cursor, q.Explain = b.Collection, b.Q, b.Lang, b.Cursor, b.Explain
	if b.Mode != "" {
		q.Mode = Mode(b.Mode)
	}
	if b.Prefix != nil {
		q.Prefix = *b.Prefix
	}
	if b.Highlight != nil {
		q.Highlight = *b.Highlight
	}
	if b.Format != "" {
		q.Format = Format(b.Format)
	}
	if b.Limit != nil {
		q.Limit = *b.Limit
	}
	if b.Sort != "" {
		s, err := ParseSort("sort", b.Sort)
		if err != nil {
			return nil, err
		}
		q.Sort = s
	}
	if b.Point != nil {
		if len(b.Point) != 2 {
			return nil, problem.Invalid("point", "needs [lon, lat]")
		}
		q.Point = &[2]float64{b.Point[0], b.Point[1]}
	}
	if len(b.Filter) > 0 && string(b.Filter) != "null" {
		f, err := ParseFilterJSON("filter", b.Filter)
		if err != nil {
			return nil, err
		}
		q.Filter = f
	}
	if b.Facets != nil {
		if err := b.Facets.apply(&q.Facets); err != nil {
			return nil, err
		}
	}
	if len(b.Vector) > 0 && string(b.Vector) != "null" {
		v, err := parseVector("vector", b.Vector)
		if err != nil {
			return nil, err
		}
		q.Vector = v
	}
	if b.SemanticRatio != nil {
		q.SemanticRatio = *b.SemanticRatio
	}
	if b.EfSearch != nil {
		q.EfSearch = *b.EfSearch
	}
	q.MinSimilarity = b.MinSimilarity
	if err := q.validate(b.Sort != ""); err != nil {
		return nil, err
	}
	return &q, nil
}

// parseVector parses a JSON array of finite numbers.
func parseVector(f string, data []byte) ([]float32, error) {
	if v, ok := parseVectorFast(data); ok {
		return v, nil
	}
	var raw []*float64
	if err := decodeStrict(data, &raw); err != nil {
		return nil, jsonProblem(f, err)
	}
	if len(raw) == 0 || len(raw) > MaxVectorDim {
		return nil, problem.Invalid(f, "vector needs 1..%d numbers", MaxVectorDim)
	}
	out := make([]float32, len(raw))
	for i, p := range raw {
		if p == nil {
			return nil, problem.Invalid(f+"["+strconv.Itoa(i)+"]", "not a number")
		}
		x := *p
		if !finite(x) || math.Abs(x) > math.MaxFloat32 {
			return nil, problem.Invalid(f+"["+strconv.Itoa(i)+"]", "not a finite float32")
		}
		out[i] = float32(x)
	}
	return out, nil
}

// filterParser turns the JSON filter syntax into a Filter tree. A node is an
// object with exactly one member naming its operator:
//
//	{"and": [node, ...]}            {"or": [node, ...]}        {"not": node}
//	{"tags": {"all"|"any"|"within": ["a", "b"]}}
//	{"props": {"has": "k"}}  {"props": {"has_any"|"has_all": ["k1","k2"]}}
//	{"props": {"contains": {"brand": "acme"}}}
//	{"prop": {"path": "specs.memory", "op": ">=", "value": 16}}  (or "specs.memory >= 16")
//	{"period": {"op": "overlaps|contains|within|before|after|adjacent",
//	            "from": t|null, "to": t|null, "bounds": "[)"}}   ("at": t for contains an instant)
//	{"bbox": [minLon, minLat, maxLon, maxLat]}
//	{"near": {"lon": x, "lat": y, "metres": m}}
//	{"intersects": <GeoJSON geometry>}
//	{"created"|"updated": {"from": t, "to": t}}     (half-open [from, to))
type filterParser struct {
	nodes int
}

// ParseFilterJSON parses a filter tree from its JSON form. field names the
// input in errors ("filter").
func ParseFilterJSON(field string, data []byte) (Filter, error) {
	p := &filterParser{}
	return p.node(field, data, 0)
}

func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	// dec.More is false before a stray ']' or '}', so ask for the next
	// token: only the end of the input is fine.
	if _, err := dec.Token(); err != io.EOF {
		return errTrailing
	}
	return nil
}

var errTrailing = problem.Invalid("", "unexpected data after the JSON value")

func jsonProblem(field string, err error) error {
	if ve, ok := err.(*problem.ValidationError); ok {
		ve.Field = field
		return ve
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return problem.InvalidAt(field, int(se.Offset), "invalid JSON: %v", err)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		f := field
		if te.Field != "" {
			f += "." + te.Field
		}
		return problem.InvalidAt(f, int(te.Offset), "expected %s, got JSON %s", te.Type, te.Value)
	}
	return problem.Invalid(field, "invalid JSON: %v", err)
}

func (p *filterParser) node(field string, data []byte, depth int) (Filter, error) {
	if depth > MaxFilterDepth {
		return nil, problem.Invalid(field, "filter nested deeper than %d levels", MaxFilterDepth)
	}
	p.nodes++
	if p.nodes > MaxFilterNodes {
		return nil, problem.Invalid(field, "filter has more than %d conditions", MaxFilterNodes)
	}
	var obj map[string]json.RawMessage
	if err := decodeStrict(data, &obj); err != nil {
		return nil, jsonProblem(field, err)
	}
	if len(obj) != 1 {
		return nil, problem.Invalid(field, "a filter node is an object with exactly one operator member, got %d members", len(obj))
	}
	for op, raw := range obj {
		f := field + "." + op
		switch op {
		case "and", "or":
			out, err := p.children(f, raw, depth)
			if err != nil {
				return nil, err
			}
			if op == "and" {
				return And(out), nil
			}
			return Or(out), nil
		case "not":
			c, err := p.node(f, raw, depth+1)
			if err != nil {
				return nil, err
			}
			return Not{F: c}, nil
		case "tags":
			return parseTagsJSON(f, raw)
		case "props":
			return parsePropsJSON(f, raw)
		case "prop":
			return parsePropJSON(f, raw)
		case "period":
			return parsePeriodJSON(f, raw)
		case "bbox":
			return parseBBoxJSON(f, raw)
		case "near":
			return parseNearJSON(f, raw)
		case "intersects":
			return parseGeoJSON(f, raw)
		case "created", "updated":
			return parseWindowJSON(f, op, raw)
		default:
			return nil, problem.Invalid(field, "unknown filter operator %q (want and, or, not, tags, props, prop, period, bbox, near, intersects, created, updated)", op)
		}
	}
	panic("unreachable")
}

// children parses the conditions of an and/or node at depth.
func (p *filterParser) children(f string, raw json.RawMessage, depth int) ([]Filter, error) {
	var kids []json.RawMessage
	if err := decodeStrict(raw, &kids); err != nil {
		return nil, jsonProblem(f, err)
	}
	if len(kids) == 0 {
		return nil, problem.Invalid(f, "needs at least one condition")
	}
	out := make([]Filter, 0, len(kids))
	for i, k := range kids {
		c, err := p.node(f+"["+strconv.Itoa(i)+"]", k, depth+1)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func parseBBoxJSON(f string, raw json.RawMessage) (Filter, error) {
	var v []float64
	if err := decodeStrict(raw, &v); err != nil {
		return nil, jsonProblem(f, err)
	}
	return newBBox(f, v)
}

func parseNearJSON(f string, raw json.RawMessage) (Filter, error) {
	var v struct {
		Lon, Lat *float64
		Metres   *float64 `json:"metres"`
	}
	if err := decodeStrict(raw, &v); err != nil {
		return nil, jsonProblem(f, err)
	}
	if v.Lon == nil || v.Lat == nil || v.Metres == nil {
		return nil, problem.Invalid(f, `needs "lon", "lat" and "metres"`)
	}
	return newNear(f, *v.Lon, *v.Lat, *v.Metres)
}

// parseWindowJSON parses a created or updated (field) condition.
func parseWindowJSON(f, field string, raw json.RawMessage) (Filter, error) {
	var v struct{ From, To *string }
	if err := decodeStrict(raw, &v); err != nil {
		return nil, jsonProblem(f, err)
	}
	return newWindow(f, field, v.From, v.To)
}

func parseTagsJSON(f string, raw json.RawMessage) (Filter, error) {
	var v map[string][]string
	if err := decodeStrict(raw, &v); err != nil {
		return nil, jsonProblem(f, err)
	}
	if len(v) != 1 {
		return nil, problem.Invalid(f, `needs exactly one of "all", "any", "within"`)
	}
	for op, vals := range v {
		return newTags(f+"."+op, op, vals)
	}
	panic("unreachable")
}

func parsePropsJSON(f string, raw json.RawMessage) (Filter, error) {
	var v map[string]json.RawMessage
	if err := decodeStrict(raw, &v); err != nil {
		return nil, jsonProblem(f, err)
	}
	if len(v) != 1 {
		return nil, problem.Invalid(f, `needs exactly one of "has", "has_any", "has_all", "contains"`)
	}
	for op, val := range v {
		ff := f + "." + op
		switch op {
		case "has":
			var k string
			if err := decodeStrict(val, &k); err != nil {
				return nil, jsonProblem(ff, err)
			}
			if err := checkString(ff, k); err != nil {
				return nil, err
			}
			return PropsKeys{Op: HasKey, Keys: []string{k}}, nil
		case "has_any", "has_all":
			var ks []string
			if err := decodeStrict(val, &ks); err != nil {
				return nil, jsonProblem(ff, err)
			}
			if err := checkStrings(ff, ks, true); err != nil {
				return nil, err
			}
			return PropsKeys{Op: KeysOp(op), Keys: ks}, nil
		case "contains":
			return newContains(ff, val)
		default:
			return nil, problem.Invalid(f, `unknown props operator %q (want has, has_any, has_all or contains)`, op)
		}
	}
	panic("unreachable")
}

// newContains validates a containment object: a JSON object whose strings
// hold no NUL (jsonb rejects \u0000), re-encoded compactly.
func newContains(f string, raw []byte) (Filter, error) {
	var v any
	if err := decodeStrict(raw, &v); err != nil {
		return nil, jsonProblem(f, err)
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, problem.Invalid(f, "must be a JSON object")
	}
	if err := checkJSONValue(f, v, 0); err != nil {
		return nil, err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, problem.Invalid(f, "invalid JSON value: %v", err)
	}
	return PropsContains{Value: b}, nil
}

func checkJSONValue(f string, v any, depth int) error {
	if depth > 32 {
		return problem.Invalid(f, "JSON nested too deeply")
	}
	switch x := v.(type) {
	case string:
		return checkString(f, x)
	case json.Number:
		if _, err := strconv.ParseFloat(x.String(), 64); err != nil {
			return problem.Invalid(f, "number %s out of range", x)
		}
	case map[string]any:
		for k, e := range x {
			if err := checkString(f, k); err != nil {
				return err
			}
			if err := checkJSONValue(f+"."+k, e, depth+1); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range x {
			if err := checkJSONValue(f+"["+strconv.Itoa(i)+"]", e, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

func parsePropJSON(f string, raw json.RawMessage) (Filter, error) {
	// The compact string form: "specs.memory >= 16".
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return ParseCondition(f, s)
	}
	var v struct {
		Path  *string
		Op    *string
		Value json.RawMessage
	}
	if err := decodeStrict(raw, &v); err != nil {
		return nil, jsonProblem(f, err)
	}
	if v.Path == nil || v.Op == nil || v.Value == nil {
		return nil, problem.Invalid(f, `needs "path", "op" and "value"`)
	}
	path, err := ParsePath(f+".path", *v.Path)
	if err != nil {
		return nil, err
	}
	op, ok := cmpOps[*v.Op]
	if !ok {
		return nil, problem.Invalid(f+".op", "unknown comparison %q (want ==, !=, <, <=, >, >=)", *v.Op)
	}
	val, err := scalarJSON(f+".value", v.Value)
	if err != nil {
		return nil, err
	}
	return newCompare(f, path, op, val)
}

// scalarJSON decodes a JSON number, string, boolean or null.
func scalarJSON(f string, raw []byte) (any, error) {
	var v any
	if err := decodeStrict(raw, &v); err != nil {
		return nil, jsonProblem(f, err)
	}
	switch x := v.(type) {
	case nil, bool:
		return x, nil
	case string:
		return x, checkString(f, x)
	case json.Number:
		n, err := strconv.ParseFloat(x.String(), 64)
		if err != nil || math.IsInf(n, 0) {
			return nil, problem.Invalid(f, "number %s out of range", x)
		}
		return n, nil
	}
	return nil, problem.Invalid(f, "must be a number, string, boolean or null")
}

func parsePeriodJSON(f string, raw json.RawMessage) (Filter, error) {
	var v struct {
		Op       *string
		From, To *string
		At       *string
		Bounds   *string
	}
	if err := refuseOldPeriodNames(f, raw); err != nil {
		return nil, err
	}
	if err := decodeStrict(raw, &v); err != nil {
		return nil, jsonProblem(f, err)
	}
	if v.Op == nil {
		return nil, problem.Invalid(f, `needs "op"`)
	}
	op := PeriodOp(*v.Op)
	if !validPeriodOp(op) {
		return nil, problem.Invalid(f+".op", "unknown period operator %q (want overlaps, contains, within, before, after, adjacent)", *v.Op)
	}
	if v.At != nil {
		if op != PeriodContains {
			return nil, problem.Invalid(f+".at", `"at" (an instant) goes with op "contains" only; give "from"/"to" for %s`, op)
		}
		if v.From != nil || v.To != nil || v.Bounds != nil {
			return nil, problem.Invalid(f, `give either "at" or "from"/"to", not both`)
		}
		t, err := ParseTime(f+".at", *v.At)
		if err != nil {
			return nil, err
		}
		return Period{Op: op, Instant: &t}, nil
	}
	bounds := "[)"
	if v.Bounds != nil {
		bounds = *v.Bounds
	}
	r, err := newRange(f, v.From, v.To, bounds)
	if err != nil {
		return nil, err
	}
	return Period{Op: op, Range: r}, nil
}

// refuseOldPeriodNames points a period written with the documents API's
// earlier member names at the one period vocabulary (from, to, bounds).
func refuseOldPeriodNames(f string, raw json.RawMessage) error {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil // decodeStrict says what is wrong
	}
	for _, k := range []string{"lower", "upper", "lower_inc", "upper_inc"} {
		if _, ok := m[k]; ok {
			return problem.Invalid(f+"."+k, `periods are written {"from", "to", "bounds"}: use "from", "to" and "bounds" ("[)", "[]", "()" or "(]")`)
		}
	}
	return nil
}
