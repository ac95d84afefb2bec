package geomrule

import (
	"encoding/json"
	"errors"

	"github.com/twpayne/go-geom"
	"github.com/twpayne/go-geom/encoding/geojson"

	"github.com/geoseek/geoseek/internal/problem"
)

// DecodeGeoJSON decodes a GeoJSON geometry object and applies Check with
// lim. A JSON null, like any other non-geometry, is refused: callers that
// accept a null geometry test for it first. go-geom panics on some
// malformed coordinate arrays; the panic becomes a validation error.
func DecodeGeoJSON(field string, raw []byte, lim Limits) (geom.T, error) {
	var gg geojson.Geometry
	if err := json.Unmarshal(raw, &gg); err != nil {
		return nil, problem.Invalid(field, "not a GeoJSON geometry: %v", err)
	}
	g, err := decodeSafe(&gg)
	if err != nil {
		return nil, problem.Invalid(field, "not a GeoJSON geometry: %v", err)
	}
	if err := Check(field, g, lim); err != nil {
		return nil, err
	}
	return g, nil
}

func decodeSafe(gg *geojson.Geometry) (g geom.T, err error) {
	defer func() {
		if r := recover(); r != nil {
			g, err = nil, errors.New("malformed coordinates")
		}
	}()
	if gg.Type == "" {
		return nil, errors.New("missing type")
	}
	g, err = gg.Decode()
	if err == nil && g == nil {
		err = errors.New("null")
	}
	return g, err
}
