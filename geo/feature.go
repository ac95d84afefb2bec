package geo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/geoseek/geoseek/document"
	"github.com/geoseek/geoseek/internal/problem"
)

// inFeature is a GeoJSON Feature as clients send it.
type inFeature struct {
	Type       string                     `json:"type"`
	ID         json.RawMessage            `json:"id"`
	Geometry   json.RawMessage            `json:"geometry"`
	Properties map[string]json.RawMessage `json:"properties"`
}

// FeatureDoc converts a GeoJSON Feature into a document of collection.
// The mapping (the inverse of what /items writes):
//   - properties title, body, tags, lang and external_id fill those columns;
//   - the title comes from the property titleProp names when the feature
//     has it (a string or a number), else from "title"; with titleProp ""
//     a feature without a title takes its "name" (Natural Earth, OSM and
//     most GIS exports name their features so). A property used as the
//     title stays in props too;
//   - datetime (an instant) or start/end (an interval, bounds included, either
//     may be null) fill the period;
//   - the feature id, when a string or number, is the external_id unless the
//     properties name one;
//   - created, updated and thumbnail are the server's: a replacement (o.Replace,
//     PUT and PATCH of an item read back) ignores them; a new feature (POST,
//     imports) with one is refused, since that value would be lost;
//   - every other property goes into props as it was sent.
//
// field prefixes validation errors ("features[12]").
func FeatureDoc(field, collection string, raw []byte, o FeatureOptions) (*document.Doc, error) {
	var f inFeature
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, problem.Invalid(field, "not a GeoJSON Feature: %v", err)
	}
	return f.doc(field, collection, o)
}

// FeatureOptions say how FeatureDoc reads a Feature.
type FeatureOptions struct {
	// TitleProp names the property the title comes from ("": title, then
	// name; "title": title only).
	TitleProp string
	// Replace is set when the Feature replaces a stored one (PUT, PATCH):
	// the server's properties it was read with are then ignored.
	Replace bool
}

// CheckTitleProp validates the name of the property an import takes titles
// from (the title query parameter; "" is the default, title then name).
func CheckTitleProp(field, p string) error {
	if p == "" || p == "title" {
		return nil
	}
	if len(p) > 256 {
		return problem.Invalid(field, "a property name of at most 256 bytes")
	}
	for _, r := range document.ReservedProps() {
		if p == r {
			return problem.Invalid(field, "%q is a document field, not a property to take titles from", p)
		}
	}
	return nil
}

// doc converts the feature into a document of collection: its geometry
// (2D), its id as the external id, the properties geoseek knows as document
// fields and the others as props; field names the feature in errors.
func (f *inFeature) doc(field, collection string, o FeatureOptions) (*document.Doc, error) {
	if f.Type != "Feature" {
		return nil, problem.Invalid(field+".type", "must be \"Feature\", got %q", f.Type)
	}
	d := &document.Doc{Collection: collection}
	g, err := DecodeGeometry(field+".geometry", f.Geometry)
	if err != nil {
		return nil, err
	}
	// Z and M are dropped: the column is 2D (see Force2D).
	d.Geometry = Force2D(g)
	if d.ExternalID, err = featureID(field, f.ID); err != nil {
		return nil, err
	}
	props := map[string]json.RawMessage{}
	if err := f.fields(field, o, d, props); err != nil {
		return nil, err
	}
	if err := f.title(field, o.TitleProp, d); err != nil {
		return nil, err
	}
	if len(props) > 0 {
		d.Props = make(map[string]any, len(props))
		for k, v := range props {
			d.Props[k] = v
		}
	}
	// document.Validate calls FlatCoords, which panics on a
	// GeometryCollection (reported to the lead); the geometry was fully
	// validated above, so Validate checks the rest without it.
	g = d.Geometry
	d.Geometry = nil
	err = d.Validate()
	d.Geometry = g
	if err != nil {
		return nil, prefixed(field, err)
	}
	return d, nil
}

// featureID is a Feature's id as an external id: a string, or a number in
// its JSON spelling; nil when there is none.
func featureID(field string, id json.RawMessage) (*string, error) {
	if len(id) == 0 || string(id) == "null" {
		return nil, nil
	}
	var s string
	if json.Unmarshal(id, &s) != nil {
		var n json.Number
		if err := json.Unmarshal(id, &n); err != nil {
			return nil, problem.Invalid(field+".id", "must be a string or a number")
		}
		s = n.String()
	}
	return &s, nil
}

// fields reads the properties that are document fields (title, body, lang,
// tags, external_id, and datetime/start/end into the period) into d, and
// the others, the document's props, into props.
func (f *inFeature) fields(field string, o FeatureOptions, d *document.Doc, props map[string]json.RawMessage) error {
	var start, end *time.Time
	for k, v := range f.Properties {
		pf := field + ".properties." + k
		var err error
		switch k {
		case "title":
			err = stringField(pf, v, &d.Title)
		case "body":
			err = stringField(pf, v, &d.Body)
		case "lang":
			err = stringField(pf, v, &d.Lang)
		case "tags":
			if unmarshalOpt(v, &d.Tags) != nil {
				err = problem.Invalid(pf, "must be an array of strings")
			}
		case "external_id":
			var s *string
			if json.Unmarshal(v, &s) != nil {
				return problem.Invalid(pf, "must be a string")
			}
			if s != nil {
				d.ExternalID = s
			}
		case "datetime", "start", "end":
			var t *time.Time
			if t, err = instantField(pf, v); t != nil {
				switch k {
				case "datetime":
					start, end = t, t
				case "start":
					start = t
				case "end":
					end = t
				}
			}
		case "created", "updated", "thumbnail":
			// Written by the server; a feature read back and put again
			// carries them. A new feature's would be lost: refused.
			if !o.Replace {
				err = problem.Invalid(pf, "%q is written by the server, so a new feature cannot carry it; rename the property (or drop it from a feature read from geoseek)", k)
			}
		default:
			props[k] = v
		}
		if err != nil {
			return err
		}
	}
	if start != nil || end != nil {
		d.Period = &document.Period{Lower: start, Upper: end, LowerInc: start != nil, UpperInc: end != nil}
	}
	return nil
}

// stringField reads an optional string property into dst.
func stringField(pf string, v json.RawMessage, dst *string) error {
	if unmarshalOpt(v, dst) != nil {
		return problem.Invalid(pf, "must be a string")
	}
	return nil
}

// instantField reads a datetime, start or end property: an RFC 3339
// date-time, or nil for null, "" or ".." (an open bound).
func instantField(pf string, v json.RawMessage) (*time.Time, error) {
	var s *string
	if err := json.Unmarshal(v, &s); err != nil {
		return nil, problem.Invalid(pf, "must be an RFC 3339 date-time string or null")
	}
	if s == nil || *s == ".." || *s == "" {
		return nil, nil
	}
	t, err := parseInstant(*s)
	if err != nil {
		return nil, problem.Invalid(pf, "%q is not an RFC 3339 date-time", *s)
	}
	return &t, nil
}

// title sets d.Title from the property titleProp (see FeatureDoc); the
// "title" property has already been read into d.Title.
func (f *inFeature) title(field, titleProp string, d *document.Doc) error {
	from := titleProp
	if from == "" {
		if d.Title != "" {
			return nil
		}
		from = "name"
	}
	if from == "title" {
		return nil
	}
	v, ok := f.Properties[from]
	if !ok || bytes.Equal(v, []byte("null")) {
		return nil
	}
	pf := field + ".properties." + from
	var t string
	if json.Unmarshal(v, &t) != nil {
		var n json.Number
		if err := json.Unmarshal(v, &n); err != nil {
			return problem.Invalid(pf, "the title is taken from %q: it must be a string or a number", from)
		}
		t = n.String()
	}
	if t == "" {
		return nil
	}
	if d.Title != "" && d.Title != t {
		return problem.Invalid(field+".properties.title", "differs from %q, which this import takes titles from; the title property would be lost", from)
	}
	d.Title = t
	return nil
}

func unmarshalOpt(v json.RawMessage, dst any) error {
	if bytes.Equal(v, []byte("null")) {
		return nil
	}
	return json.Unmarshal(v, dst)
}

// prefixed puts field in front of a validation error's field.
func prefixed(field string, err error) error {
	if ve, ok := err.(*problem.ValidationError); ok && field != "" {
		f := field
		if ve.Field != "" {
			f += "." + ve.Field
		}
		return &problem.ValidationError{Field: f, Pos: ve.Pos, Reason: ve.Reason}
	}
	return err
}

// propsJSON is d.Props as one JSON object. Values that came from a request
// are json.RawMessage and pass through unchanged (numbers keep their digits).
func propsJSON(m map[string]any) ([]byte, error) {
	if len(m) == 0 {
		return []byte("{}"), nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("geo: encode props: %w", err)
	}
	return b, nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// parseID parses an item id from a URL.
func parseID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("item %q: %w", s, problem.ErrNotFound)
	}
	return id, nil
}
