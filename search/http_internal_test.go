package search

import (
	"reflect"
	"strings"
	"testing"
)

// TestHitFieldsHaveAGeoJSONPlace: every member of a JSON hit is either part
// of the document's Feature (written by the items encoder) or a search value
// in the Feature's "search" member, so a field added to Hit is not silently
// missing from GeoJSON answers.
func TestHitFieldsHaveAGeoJSONPlace(t *testing.T) {
	t.Parallel()
	inFeature := map[string]bool{"id": true, "external_id": true, "title": true, "lang": true, "tags": true, "props": true,
		"period": true, "geometry": true, "created_at": true, "updated_at": true}
	inSearch := map[string]bool{}
	st := reflect.TypeOf(hitSearch{})
	for i := 0; i < st.NumField(); i++ {
		inSearch[strings.Split(st.Field(i).Tag.Get("json"), ",")[0]] = true
	}
	ht := reflect.TypeOf(Hit{})
	for i := 0; i < ht.NumField(); i++ {
		name := strings.Split(ht.Field(i).Tag.Get("json"), ",")[0]
		if !inFeature[name] && !inSearch[name] {
			t.Errorf("Hit.%s (%q) has no place in GeoJSON answers: add it to hitSearch (and hasSearchValues) or to the Feature", ht.Field(i).Name, name)
		}
	}
}
