package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sams96/rgeo"

	"github.com/geoseek/geoseek/document"
)

// Place is where a photo was taken, by name.
type Place struct {
	Country     string `json:"country,omitempty"`
	CountryCode string `json:"country_code,omitempty"`
	Region      string `json:"region,omitempty"`
	City        string `json:"city,omitempty"`
}

func (p Place) empty() bool { return p == Place{} }

// Words is the place as text for the document body, most specific first.
func (p Place) Words() string {
	var parts []string
	for _, s := range []string{p.City, p.Region, p.Country} {
		if s != "" && (len(parts) == 0 || parts[len(parts)-1] != s) {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ", ")
}

// Natural Earth datasets embedded in github.com/sams96/rgeo, by the name
// Config.Places uses. Provinces10 (admin-1 regions with their countries) and
// Cities10 (urban areas) are the default: together about 25 MB compressed.
//
// rgeo's own in-memory index of them takes long to build and much memory
// (docs/performance.md), so the polygons are loaded once into PostGIS
// instead and looked up with ST_Covers on a GiST index.
var placeDatasets = map[string]struct {
	data func() []byte
	kind string
}{
	"Countries110": {rgeo.Countries110, "country"},
	"Countries10":  {rgeo.Countries10, "country"},
	"Provinces10":  {rgeo.Provinces10, "region"},
	"Cities10":     {rgeo.Cities10, "city"},
}

// DefaultPlaces are the datasets loaded unless Config.Places says otherwise.
var DefaultPlaces = []string{"Provinces10", "Cities10"}

// placesLockKey serialises place loads across processes ("places" ASCII).
const placesLockKey int64 = 0x706c61636573

// LoadPlaces loads the named Natural Earth datasets into the places table,
// each once: a dataset already recorded in places_loaded is skipped, so
// calling it at every start is cheap. Loading the default datasets takes
// minutes on a small machine (docs/performance.md); run it in the
// background. Photos ingested before it finishes get no place names.
func LoadPlaces(ctx context.Context, pool *pgxpool.Pool, datasets []string) error {
	for _, name := range datasets {
		ds, ok := placeDatasets[name]
		if !ok {
			return fmt.Errorf("ingest: unknown place dataset %q", name)
		}
		gz := ds.data()
		zr, err := gzip.NewReader(bytes.NewReader(gz))
		if err != nil {
			return fmt.Errorf("ingest: place dataset %s: %w", name, err)
		}
		if err := LoadPlacesGeoJSON(ctx, pool, name, ds.kind, zr); err != nil {
			return err
		}
	}
	// Regions loaded before the base map's countries existed, or before
	// their duplicates were dropped at load.
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, placesLockKey); err != nil {
			return fmt.Errorf("ingest: lock places: %w", err)
		}
		var dropped int
		if err := tx.QueryRow(ctx, `SELECT places_drop_duplicate_regions()`).Scan(&dropped); err != nil {
			return fmt.Errorf("ingest: duplicate regions: %w", err)
		}
		if _, err := tx.Exec(ctx, `SELECT basemap_countries_refresh($1)`, dropped == 0); err != nil {
			return fmt.Errorf("ingest: base map countries: %w", err)
		}
		return nil
	})
}

// LoadPlacesGeoJSON loads one GeoJSON FeatureCollection of polygons as the
// dataset name of the given kind ("country", "region" or "city"), streaming
// it feature by feature. It does nothing if the dataset is already loaded.
func LoadPlacesGeoJSON(ctx context.Context, pool *pgxpool.Pool, name, kind string, r io.Reader) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, placesLockKey); err != nil {
			return fmt.Errorf("ingest: lock places: %w", err)
		}
		var done bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM places_loaded WHERE dataset = $1)`, name).Scan(&done); err != nil {
			return fmt.Errorf("ingest: places: %w", err)
		}
		if done {
			return nil
		}
		n, err := streamFeatures(ctx, tx, name, kind, r)
		if err != nil {
			return fmt.Errorf("ingest: load places %s: %w", name, err)
		}
		if kind == "region" {
			if _, err := tx.Exec(ctx, `SELECT places_drop_duplicate_regions()`); err != nil {
				return fmt.Errorf("ingest: duplicate regions: %w", err)
			}
		}
		if kind == "region" || kind == "country" {
			if _, err := tx.Exec(ctx, `SELECT basemap_countries_refresh(false)`); err != nil {
				return fmt.Errorf("ingest: base map countries: %w", err)
			}
		}
		_, err = tx.Exec(ctx, `INSERT INTO places_loaded (dataset, features) VALUES ($1, $2)`, name, n)
		return err
	})
}

type placeFeature struct {
	Properties map[string]any  `json:"properties"`
	Geometry   json.RawMessage `json:"geometry"`
}

// insertPlaces repairs invalid rings (ST_MakeValid can return a collection
// with stray lines or points; only the polygons are kept), skips features
// left with no area, and cuts each polygon into the small pieces lookups
// test (see migration 00011).
const insertPlaces = `
WITH added AS (
    INSERT INTO places (dataset, kind, name, country, country_code, region, geom, area)
    SELECT $1, $2, n, c, cc, r, geom, ST_Area(geom)
      FROM (SELECT n, c, cc, r,
                   ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_SetSRID(ST_GeomFromGeoJSON(g), 4326)), 3)) AS geom
              FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) AS t(n, c, cc, r, g)
             WHERE GeometryType(ST_GeomFromGeoJSON(g)) IN ('POLYGON', 'MULTIPOLYGON')) AS v
     WHERE NOT ST_IsEmpty(geom)
    RETURNING id, geom
)
INSERT INTO place_parts (place_id, geom) SELECT id, ST_Subdivide(geom, 128) FROM added`

func streamFeatures(ctx context.Context, tx pgx.Tx, name, kind string, r io.Reader) (int, error) {
	dec := json.NewDecoder(r)
	// Find "features": [ at the top level.
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return 0, fmt.Errorf("no features array: %w", err)
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if s, ok := tok.(string); ok && s == "features" && depth == 1 {
			if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
				return 0, errors.New("features is not an array")
			}
			break
		}
	}
	var names, countries, codes, regions, geoms []string
	total := 0
	flush := func() error {
		if len(names) == 0 {
			return nil
		}
		if _, err := tx.Exec(ctx, insertPlaces, name, kind, names, countries, codes, regions, geoms); err != nil {
			return err
		}
		total += len(names)
		names, countries, codes, regions, geoms = names[:0], countries[:0], codes[:0], regions[:0], geoms[:0]
		return nil
	}
	size := 0
	for dec.More() {
		var f placeFeature
		if err := dec.Decode(&f); err != nil {
			return 0, err
		}
		if len(f.Geometry) == 0 || string(f.Geometry) == "null" {
			continue
		}
		p := placeProps(kind, f.Properties)
		names = append(names, p.name)
		countries = append(countries, p.country)
		codes = append(codes, p.code)
		regions = append(regions, p.region)
		geoms = append(geoms, string(f.Geometry))
		size += len(f.Geometry)
		if len(names) >= 200 || size > 8<<20 {
			if err := flush(); err != nil {
				return 0, err
			}
			size = 0
		}
	}
	if err := flush(); err != nil {
		return 0, err
	}
	return total, nil
}

type placeRow struct{ name, country, code, region string }

// placeProps picks names from Natural Earth properties (their keys vary in
// case between datasets; the urban areas' name_conve carries a digit suffix
// on names shared by several areas, "Madrid2", "San Jose3").
func placeProps(kind string, p map[string]any) placeRow {
	get := func(keys ...string) string {
		for _, k := range keys {
			for _, kk := range []string{k, strings.ToUpper(k)} {
				if s, ok := p[kk].(string); ok && s != "" && s != "-99" {
					return cleanString(s)
				}
			}
		}
		return ""
	}
	switch kind {
	case "country":
		return placeRow{name: get("admin", "name"), country: get("admin", "name"), code: get("iso_a2")}
	case "region":
		return placeRow{name: get("name"), country: get("admin"), code: get("iso_a2"), region: get("name")}
	default:
		return placeRow{name: strings.TrimRight(get("name_conve", "name"), "0123456789")}
	}
}

// lookupPlace tests the point against the subdivided pieces (a point on a
// cut between two pieces of one place matches both: DISTINCT keeps one).
const lookupPlace = `
SELECT kind, name, country, country_code
  FROM (SELECT DISTINCT p.id, p.kind, p.name, p.country, p.country_code, p.area
          FROM place_parts pp JOIN places p ON p.id = pp.place_id
         WHERE ST_Covers(pp.geom, ST_SetSRID(ST_MakePoint($1, $2), 4326))) AS hit
 ORDER BY CASE kind WHEN 'city' THEN 0 WHEN 'region' THEN 1 ELSE 2 END, area`

// placeOf names the place of a photo's GPS position; the zero Place when
// it has none.
func placeOf(ctx context.Context, q document.Querier, m *Meta) (Place, error) {
	if !m.HasGPS() {
		return Place{}, nil
	}
	return lookupPlaceAt(ctx, q, *m.Lon, *m.Lat)
}

// lookupPlaceAt names the place at lon/lat from the loaded polygons; the
// zero Place when none covers it.
func lookupPlaceAt(ctx context.Context, q document.Querier, lon, lat float64) (Place, error) {
	rows, err := q.Query(ctx, lookupPlace, lon, lat)
	if err != nil {
		return Place{}, fmt.Errorf("ingest: place lookup: %w", err)
	}
	defer rows.Close()
	var p Place
	for rows.Next() {
		var kind, name, country, code string
		if err := rows.Scan(&kind, &name, &country, &code); err != nil {
			return Place{}, fmt.Errorf("ingest: place lookup: %w", err)
		}
		p.add(kind, name, country, code)
	}
	return p, rows.Err()
}

// add takes one polygon covering the point, most specific first: the first
// city and region, and the country of whichever names one first.
func (p *Place) add(kind, name, country, code string) {
	switch kind {
	case "city":
		if p.City == "" {
			p.City = name
		}
	case "region":
		if p.Region == "" {
			p.Region = name
		}
	}
	if p.Country == "" && country != "" {
		p.Country = country
	}
	if p.CountryCode == "" && code != "" {
		p.CountryCode = code
	}
}

// lookupPlacesAt is lookupPlaceAt for many points in one statement (a
// committer's batch); places[i] is the place of lons[i], lats[i].
const lookupPlaces = `
SELECT u.ord, hit.kind, hit.name, hit.country, hit.country_code
  FROM unnest($1::float8[], $2::float8[]) WITH ORDINALITY AS u(lon, lat, ord)
  CROSS JOIN LATERAL (
        SELECT DISTINCT p.id, p.kind, p.name, p.country, p.country_code, p.area
          FROM place_parts pp JOIN places p ON p.id = pp.place_id
         WHERE ST_Covers(pp.geom, ST_SetSRID(ST_MakePoint(u.lon, u.lat), 4326))) AS hit
 ORDER BY u.ord, CASE hit.kind WHEN 'city' THEN 0 WHEN 'region' THEN 1 ELSE 2 END, hit.area`

func lookupPlacesAt(ctx context.Context, pool *pgxpool.Pool, lons, lats []float64) ([]Place, error) {
	places := make([]Place, len(lons))
	b := &pgx.Batch{}
	b.Queue(genericPlans)
	b.Queue(lookupPlaces, lons, lats).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var ord int64
			var kind, name, country, code string
			if err := rows.Scan(&ord, &kind, &name, &country, &code); err != nil {
				return err
			}
			if ord >= 1 && int(ord) <= len(places) {
				places[ord-1].add(kind, name, country, code)
			}
		}
		return rows.Err()
	})
	if err := pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("ingest: place lookup: %w", err)
	}
	return places, nil
}

// LoadPlaces loads the configured place datasets (Config.Places), then names
// the places of photos ingested before they were there. Run it in the
// background at start-up; it is cheap once everything is loaded.
func (s *Service) LoadPlaces(ctx context.Context) error {
	if err := LoadPlaces(ctx, s.pool, s.cfg.Places); err != nil {
		return err
	}
	n, err := s.RefreshPlaces(ctx)
	if n > 0 {
		s.log.Info("ingest: named the places of earlier photos", "photos", n)
	}
	return err
}

// RefreshPlaces names the place of every geotagged photo whose document has
// none yet, adding it to the document's body and props. It returns how many
// documents it changed.
func (s *Service) RefreshPlaces(ctx context.Context) (int, error) {
	changed := 0
	after := int64(0)
	for {
		rows, err := s.pool.Query(ctx, `
SELECT p.document_id, p.lon, p.lat FROM photos p JOIN documents d ON d.id = p.document_id
 WHERE p.geom IS NOT NULL AND NOT (d.props ? 'place') AND p.document_id > $1
 ORDER BY p.document_id LIMIT 500`, after)
		if err != nil {
			return changed, fmt.Errorf("ingest: refresh places: %w", err)
		}
		type pt struct {
			id       int64
			lon, lat float64
		}
		var batch []pt
		for rows.Next() {
			var p pt
			if err := rows.Scan(&p.id, &p.lon, &p.lat); err != nil {
				rows.Close()
				return changed, fmt.Errorf("ingest: refresh places: %w", err)
			}
			batch = append(batch, p)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return changed, fmt.Errorf("ingest: refresh places: %w", err)
		}
		if len(batch) == 0 {
			return changed, nil
		}
		for _, p := range batch {
			after = p.id
			place, err := lookupPlaceAt(ctx, s.pool, p.lon, p.lat)
			if err != nil {
				return changed, err
			}
			if place.empty() {
				continue
			}
			err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
				d, err := document.Get(ctx, tx, Collection, p.id)
				if err != nil {
					return err
				}
				if d.Props == nil {
					d.Props = map[string]any{}
				}
				d.Props["place"] = place
				d.Body = strings.TrimSpace(place.Words() + ". " + d.Body)
				return document.Update(ctx, tx, d)
			})
			if err != nil {
				return changed, fmt.Errorf("ingest: refresh place of %d: %w", p.id, err)
			}
			changed++
		}
	}
}
