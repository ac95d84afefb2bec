package geo

import (
	"fmt"
	"math"
	"net/url"
	"time"

	"github.com/geoseek/geoseek/geo/cql2"
)

// The OGC API – Features documents geoseek serves, as typed values. The
// handlers encode them as JSON and the HTML pages render them.
//
// Fields are declared in the order of their JSON names (byte order): the
// documents were maps before, whose keys encoding/json sorts, and clients
// and GDAL have only ever seen that order, so the bytes stay the same.

// Link is an OGC/RFC 8288 link.
type Link struct {
	Href  string `json:"href"`
	Rel   string `json:"rel"`
	Type  string `json:"type,omitempty"`
	Title string `json:"title,omitempty"`
}

func link(href, rel, typ, title string) Link {
	return Link{Href: href, Rel: rel, Type: typ, Title: title}
}

const (
	crs84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
	// gregorian is the temporal reference system of an extent.
	gregorian = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
	// relQueryables is the link relation of a collection's queryables.
	relQueryables = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
	// SchemaJSON is the media type of the queryables (a JSON Schema).
	SchemaJSON = "application/schema+json"
)

// Landing is the landing page (/).
type Landing struct {
	Description string `json:"description"`
	Links       []Link `json:"links"`
	Title       string `json:"title"`
}

// newLanding links the landing page's resources under base.
func newLanding(base, title, description string) *Landing {
	return &Landing{
		Title:       title,
		Description: description,
		Links: []Link{
			link(base+"/", "self", JSON, "this document"),
			link(base+"/?f=html", "alternate", HTML, "this document as HTML"),
			link(base+"/openapi.json", "service-desc", OpenAPIJSON, "the API definition"),
			link(base+"/conformance", "conformance", JSON, "conformance classes"),
			link(base+"/collections", "data", JSON, "collections"),
		},
	}
}

// Conformance is the conformance declaration (/conformance).
type Conformance struct {
	ConformsTo []string `json:"conformsTo"`
}

// newConformance lists the conformance classes geoseek implements.
func newConformance() *Conformance {
	return &Conformance{ConformsTo: []string{
		"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
		"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
		"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
		"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
		"http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
		"http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
		"http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
		"http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
		"http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
		"http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
		"http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
		"http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
		"http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete",
		"http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/update",
	}}
}

// CollectionList is the list of collections (/collections).
type CollectionList struct {
	Collections []*CollectionDoc `json:"collections"`
	Links       []Link           `json:"links"`
}

func newCollectionList(base string, cols []*Collection) *CollectionList {
	l := &CollectionList{
		Collections: make([]*CollectionDoc, 0, len(cols)),
		Links: []Link{
			link(base+"/collections", "self", JSON, "collections"),
			link(base+"/collections?f=html", "alternate", HTML, "collections as HTML"),
		},
	}
	for _, col := range cols {
		l.Collections = append(l.Collections, newCollectionDoc(base, col))
	}
	return l
}

// CollectionDoc describes one collection (/collections/{c}); geoseek adds
// the collection's language and embedder to the OGC members.
type CollectionDoc struct {
	CRS            []string `json:"crs"`
	DefaultLang    string   `json:"default_lang"`
	Description    string   `json:"description"`
	Embedder       string   `json:"embedder"`
	EmbeddingDim   *int     `json:"embedding_dim"`
	EmbeddingModel string   `json:"embedding_model"`
	// Extent is absent while no document has a geometry or a period.
	Extent     *Extent `json:"extent,omitempty"`
	ID         string  `json:"id"`
	ItemType   string  `json:"itemType"`
	Links      []Link  `json:"links"`
	StorageCRS string  `json:"storageCrs"`
	Title      string  `json:"title"`
}

// Extent is a collection's spatial and temporal extent.
type Extent struct {
	Spatial  *SpatialExtent  `json:"spatial,omitempty"`
	Temporal *TemporalExtent `json:"temporal,omitempty"`
}

// SpatialExtent holds one bounding box (minx, miny, maxx, maxy) in CRS84.
type SpatialExtent struct {
	BBox [][4]float64 `json:"bbox"`
	CRS  string       `json:"crs"`
}

// TemporalExtent holds one interval of RFC 3339 instants; nil is open.
type TemporalExtent struct {
	Interval [][2]*string `json:"interval"`
	TRS      string       `json:"trs"`
}

func newCollectionDoc(base string, col *Collection) *CollectionDoc {
	self := base + "/collections/" + url.PathEscape(col.Name)
	return &CollectionDoc{
		ID:             col.Name,
		Title:          col.Title,
		Description:    col.Description,
		ItemType:       "feature",
		CRS:            []string{crs84},
		StorageCRS:     crs84,
		DefaultLang:    col.DefaultLang,
		Embedder:       col.Embedder,
		EmbeddingModel: col.EmbeddingModel,
		EmbeddingDim:   col.EmbeddingDim,
		Links: []Link{
			link(self, "self", JSON, "this collection"),
			link(self+"?f=html", "alternate", HTML, "this collection as HTML"),
			link(self+"/items", "items", GeoJSON, "items"),
			link(self+"/items?f=html", "items", HTML, "items as HTML"),
			link(self+"/queryables", relQueryables, SchemaJSON, "queryables"),
			link(self+"/clusters", "clusters", GeoJSON, "server-side clusters (bbox, zoom)"),
			link(base+"/tiles/"+url.PathEscape(col.Name)+".json", "tiles", JSON, "TileJSON of the vector tiles"),
		},
		Extent: newExtent(col),
	}
}

// newExtent is col's extent, or nil when it has none.
func newExtent(col *Collection) *Extent {
	var ext Extent
	if e := col.Extent; e != nil {
		ext.Spatial = &SpatialExtent{BBox: [][4]float64{{e.MinX, e.MinY, e.MaxX, e.MaxY}}, CRS: crs84}
	}
	if col.TMin != nil || col.TMax != nil {
		ext.Temporal = &TemporalExtent{Interval: [][2]*string{{rfc3339(col.TMin), rfc3339(col.TMax)}}, TRS: gregorian}
	}
	if ext.Spatial == nil && ext.Temporal == nil {
		return nil
	}
	return &ext
}

// rfc3339 formats t in UTC to the second; nil stays nil (an open bound).
func rfc3339(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := t.UTC().Format(time.RFC3339)
	return &s
}

// Queryables is the JSON Schema of what a CQL2 filter may name
// (/collections/{c}/queryables).
type Queryables struct {
	ID         string                `json:"$id"`
	Schema     string                `json:"$schema"`
	Properties map[string]*Queryable `json:"properties"`
	Title      string                `json:"title"`
	Type       string                `json:"type"`
}

// Queryable is the schema of one queryable.
type Queryable struct {
	Description string     `json:"description,omitempty"`
	Format      string     `json:"format,omitempty"`
	Items       *Queryable `json:"items,omitempty"`
	Type        string     `json:"type,omitempty"`
}

// newQueryables lists the document fields CQL2 knows and the props keys seen
// in col; a field's schema wins over a props key of the same name.
func newQueryables(base string, col *Collection) *Queryables {
	fields := cql2.Queryables()
	props := make(map[string]*Queryable, len(fields)+len(col.PropKeys))
	for name, typ := range fields {
		switch typ {
		case "date-time":
			props[name] = &Queryable{Type: "string", Format: "date-time"}
		case "geometry":
			props[name] = &Queryable{Format: "geometry-any"}
		case "array":
			props[name] = &Queryable{Type: "array", Items: &Queryable{Type: "string"}}
		default:
			props[name] = &Queryable{Type: typ}
		}
	}
	for _, k := range col.PropKeys {
		if _, fixed := props[k]; !fixed {
			props[k] = &Queryable{Description: "a key of the documents' props"}
		}
	}
	return &Queryables{
		Schema:     "https://json-schema.org/draft/2020-12/schema",
		ID:         base + "/collections/" + url.PathEscape(col.Name) + "/queryables",
		Type:       "object",
		Title:      col.Title,
		Properties: props,
	}
}

// TileJSON describes a collection's vector tiles (TileJSON 3.0.0,
// /tiles/{c}.json).
type TileJSON struct {
	// Bounds is absent while no document has a geometry.
	Bounds       []float64     `json:"bounds,omitempty"`
	Description  string        `json:"description"`
	MaxZoom      int           `json:"maxzoom"`
	MinZoom      int           `json:"minzoom"`
	Name         string        `json:"name"`
	Scheme       string        `json:"scheme"`
	TileJSON     string        `json:"tilejson"`
	Tiles        []string      `json:"tiles"`
	VectorLayers []VectorLayer `json:"vector_layers"`
}

// VectorLayer is a layer of the tiles and the fields of its features.
type VectorLayer struct {
	Description string            `json:"description"`
	Fields      map[string]string `json:"fields"`
	ID          string            `json:"id"`
	MaxZoom     int               `json:"maxzoom"`
	MinZoom     int               `json:"minzoom"`
}

// webMercatorMaxLat is the latitude at which web tiles end.
const webMercatorMaxLat = 85.0511

func newTileJSON(base string, col *Collection) *TileJSON {
	t := &TileJSON{
		TileJSON:    "3.0.0",
		Name:        col.Name,
		Description: col.Description,
		Scheme:      "xyz",
		Tiles:       []string{base + "/tiles/" + url.PathEscape(col.Name) + "/{z}/{x}/{y}.mvt"},
		MinZoom:     0,
		MaxZoom:     MaxZoom,
		VectorLayers: []VectorLayer{{
			ID:          col.Name,
			Description: fmt.Sprintf("below zoom %d points are clustered in 64 px cells (count, cluster, extent, id of a member); from it on, features (id, title)", ClusterMaxZoom),
			Fields:      map[string]string{"id": "Number", "count": "Number", "cluster": "Boolean", "extent": "String", "title": "String"},
			MinZoom:     0,
			MaxZoom:     MaxZoom,
		}},
	}
	if e := col.Extent; e != nil {
		t.Bounds = []float64{e.MinX, math.Max(e.MinY, -webMercatorMaxLat), e.MaxX, math.Min(e.MaxY, webMercatorMaxLat)}
	}
	return t
}
