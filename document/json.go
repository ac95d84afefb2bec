package document

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/twpayne/go-geom/encoding/geojson"

	"github.com/geoseek/geoseek/internal/geomrule"
	"github.com/geoseek/geoseek/internal/problem"
)

// The JSON form of a document, as the documents API and the NDJSON bulk load
// read and write it:
//
//	{"external_id": "sku-1", "title": "…", "body": "…", "lang": "english",
//	 "tags": ["a"], "props": {"k": 1},
//	 "period": {"from": "2024-01-01T00:00:00Z", "to": null, "bounds": "[)"},
//	 "geometry": {"type": "Point", "coordinates": [13.4, 52.5]},
//	 "vector": [0.1, 0.2]}
//
// Every member is optional; unknown members are rejected so a misspelt field
// is an error, not silently dropped.

// jsonFields are the members a document object may have.
var jsonFields = map[string]bool{
	"external_id": true, "title": true, "body": true, "lang": true, "tags": true,
	"props": true, "period": true, "geometry": true, "vector": true,
}

// DecodeJSON parses one document object into a Doc for collection. It
// validates the JSON shapes (geometry, vector, period); Doc.Validate, called
// by the write functions, checks the rest.
func DecodeJSON(collection string, data []byte) (*Doc, error) {
	d := &Doc{Collection: collection}
	if err := ApplyJSON(d, data); err != nil {
		return nil, err
	}
	return d, nil
}

// ApplyJSON sets the members present in data on d, leaving the others as
// they are (a null member clears the field); "props" replaces d.Props.
func ApplyJSON(d *Doc, data []byte) error {
	return applyJSON(d, data, false)
}

// PatchJSON is ApplyJSON with props merged (RFC 7396: a null value deletes
// a key, objects merge recursively) instead of replaced.
func PatchJSON(d *Doc, data []byte) error {
	return applyJSON(d, data, true)
}

func applyJSON(d *Doc, data []byte, mergeProps bool) error {
	var m map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&m); err != nil {
		return problem.Invalid("", "invalid JSON document: %v", err)
	}
	// Not dec.More: it is false before a stray ']' or '}'.
	if _, err := dec.Token(); err != io.EOF {
		return problem.Invalid("", "unexpected data after the JSON document")
	}
	if m == nil {
		return problem.Invalid("", "a document must be a JSON object")
	}
	for k, raw := range m {
		if !jsonFields[k] {
			return problem.Invalid(k, "unknown document field (want external_id, title, body, lang, tags, props, period, geometry, vector)")
		}
		null := string(raw) == "null"
		var err error
		switch k {
		case "external_id":
			d.ExternalID = nil
			if !null {
				var s string
				err = json.Unmarshal(raw, &s)
				d.ExternalID = &s
			}
		case "title":
			d.Title = ""
			if !null {
				err = json.Unmarshal(raw, &d.Title)
			}
		case "body":
			d.Body = ""
			if !null {
				err = json.Unmarshal(raw, &d.Body)
			}
		case "lang":
			d.Lang = ""
			if !null {
				err = json.Unmarshal(raw, &d.Lang)
			}
		case "tags":
			d.Tags = nil
			if !null {
				err = json.Unmarshal(raw, &d.Tags)
			}
		case "props":
			err = applyProps(d, raw, null, mergeProps)
		case "period":
			d.Period = nil
			if !null {
				err = decodePeriod(d, raw)
			}
		case "geometry":
			d.Geometry = nil
			if !null {
				// Refused here, before the rest of the body is read, and
				// checked again by Validate, which every write runs.
				g, gerr := geomrule.DecodeGeoJSON("geometry", raw, geomrule.Stored())
				if gerr != nil {
					return gerr
				}
				d.Geometry = g
			}
		case "vector":
			d.Embedding = nil
			if !null {
				err = decodeVector(d, raw)
			}
		}
		if err != nil {
			if ve, ok := err.(*problem.ValidationError); ok {
				return ve
			}
			return problem.Invalid(k, "%v", err)
		}
	}
	return nil
}

func applyProps(d *Doc, raw json.RawMessage, null, merge bool) error {
	if null {
		d.Props = nil
		return nil
	}
	var v map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // keep large integers exact
	if err := dec.Decode(&v); err != nil || v == nil {
		return problem.Invalid("props", "must be a JSON object")
	}
	if merge && d.Props != nil {
		d.Props = mergePatch(d.Props, v)
		return nil
	}
	d.Props = v
	return nil
}

// mergePatch applies an RFC 7396 merge patch to target.
func mergePatch(target, patch map[string]any) map[string]any {
	out := make(map[string]any, len(target))
	for k, v := range target {
		out[k] = v
	}
	for k, pv := range patch {
		if pv == nil {
			delete(out, k)
			continue
		}
		if pm, ok := pv.(map[string]any); ok {
			if tm, ok := out[k].(map[string]any); ok {
				out[k] = mergePatch(tm, pm)
				continue
			}
			out[k] = mergePatch(map[string]any{}, pm)
			continue
		}
		out[k] = pv
	}
	return out
}

func decodePeriod(d *Doc, raw json.RawMessage) error {
	p, err := ParsePeriodJSON("period", raw)
	if err != nil {
		return err
	}
	d.Period = p
	return nil
}

func decodeVector(d *Doc, raw json.RawMessage) error {
	var v []*float64
	if err := json.Unmarshal(raw, &v); err != nil {
		return problem.Invalid("vector", "must be an array of numbers")
	}
	out := make([]float32, len(v))
	for i, x := range v {
		if x == nil || math.IsNaN(*x) || math.IsInf(*x, 0) || math.Abs(*x) > math.MaxFloat32 {
			return problem.Invalid(fmt.Sprintf("vector[%d]", i), "must be a finite float32 number")
		}
		out[i] = float32(*x)
	}
	d.Embedding = out
	return nil
}

// Output is the JSON form of a stored document in responses.
type Output struct {
	ID         int64           `json:"id"`
	Collection string          `json:"collection"`
	ExternalID *string         `json:"external_id,omitempty"`
	Title      string          `json:"title"`
	Body       string          `json:"body"`
	Lang       string          `json:"lang"`
	Tags       []string        `json:"tags"`
	Props      map[string]any  `json:"props"`
	Period     *Period         `json:"period,omitempty"`
	Geometry   json.RawMessage `json:"geometry"`
	CreatedAt  time.Time       `json:"created_at"`
	UpdatedAt  time.Time       `json:"updated_at"`
}

// ToOutput converts d for a response.
func ToOutput(d *Doc) (Output, error) {
	o := Output{ID: d.ID, Collection: d.Collection, ExternalID: d.ExternalID, Title: d.Title, Body: d.Body,
		Lang: d.Lang, Tags: d.Tags, Props: d.Props, Period: d.Period, Geometry: json.RawMessage("null"),
		CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
	if o.Tags == nil {
		o.Tags = []string{}
	}
	if o.Props == nil {
		o.Props = map[string]any{}
	}
	if d.Geometry != nil {
		b, err := geojson.Marshal(d.Geometry)
		if err != nil {
			return o, fmt.Errorf("document: encode geometry: %w", err)
		}
		o.Geometry = b
	}
	return o, nil
}
