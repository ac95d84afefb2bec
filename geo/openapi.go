package geo

// OpenAPIPaths returns the OpenAPI 3.0 path items of the geo routes, for the
// server's /openapi.json (the landing page links it as service-desc, and the
// oas30 conformance class needs it). Keys are OpenAPI paths.
func OpenAPIPaths() map[string]any {
	str := map[string]any{"type": "string"}
	param := func(name, in, desc string, schema map[string]any, required bool) map[string]any {
		return map[string]any{"name": name, "in": in, "description": desc, "required": required, "schema": schema}
	}
	collection := param("collection", "path", "collection name", str, true)
	itemID := param("id", "path", "item id", map[string]any{"type": "integer", "format": "int64"}, true)
	f := param("f", "query", "json or html (else by Accept)", map[string]any{"type": "string", "enum": []string{"json", "html"}}, false)
	resp := func(desc, mediaType string) map[string]any {
		return map[string]any{"description": desc, "content": map[string]any{mediaType: map[string]any{"schema": map[string]any{"type": "object"}}}}
	}
	problem := resp("problem details (RFC 9457)", "application/problem+json")
	errs := map[string]any{"400": problem, "404": problem}
	with := func(ok string, okResp map[string]any) map[string]any {
		m := map[string]any{ok: okResp}
		for k, v := range errs {
			m[k] = v
		}
		return m
	}
	write := []map[string]any{{"bearerAuth": []string{}}}
	itemsParams := []any{
		collection, f,
		param("bbox", "query", "minx,miny,maxx,maxy in CRS84; minx > maxx crosses the antimeridian", str, false),
		param("datetime", "query", "instant, a/b, ../b or a/.. on the document period", str, false),
		param("limit", "query", "1 to 10000 (default 100)", map[string]any{"type": "integer", "minimum": 1, "maximum": MaxLimit, "default": DefaultLimit}, false),
		param("cursor", "query", "from a next or prev link", str, false),
		param("sortby", "query", "[+|-]id, title, created, updated or datetime", str, false),
		param("properties", "query", "comma-separated properties to return", str, false),
		param("q", "query", "full text (websearch syntax)", str, false),
		param("filter", "query", "CQL2 text", str, false),
		param("filter-lang", "query", "cql2-text", str, false),
		param("precision", "query", "coordinate decimals (0-15)", map[string]any{"type": "integer"}, false),
	}
	return map[string]any{
		"/": map[string]any{"get": map[string]any{"summary": "landing page", "parameters": []any{f}, "responses": map[string]any{"200": resp("landing page", JSON)}}},
		"/conformance": map[string]any{"get": map[string]any{"summary": "conformance classes",
			"responses": map[string]any{"200": resp("conformance", JSON)}}},
		"/collections": map[string]any{"get": map[string]any{"summary": "collections with extents and settings",
			"responses": map[string]any{"200": resp("collections", JSON)}}},
		"/collections/{collection}": map[string]any{"get": map[string]any{"summary": "one collection",
			"parameters": []any{collection, f}, "responses": with("200", resp("collection", JSON))}},
		"/collections/{collection}/queryables": map[string]any{"get": map[string]any{"summary": "properties usable in filters",
			"parameters": []any{collection}, "responses": with("200", resp("queryables", "application/schema+json"))}},
		"/collections/{collection}/items": map[string]any{
			"get": map[string]any{"summary": "features (streamed FeatureCollection, keyset paging)",
				"parameters": itemsParams, "responses": with("200", resp("features", GeoJSON))},
			"post": map[string]any{"summary": "add a Feature, or import a FeatureCollection / GeoJSON sequence (all or nothing)",
				"security": write, "parameters": []any{collection, param("title", "query", "the property titles come from (default: title, else name); it stays a property too", str, false)},
				"requestBody": map[string]any{"required": true, "content": map[string]any{
					GeoJSON: map[string]any{"schema": map[string]any{"type": "object"}}, "application/geo+json-seq": map[string]any{"schema": str},
					"application/x-ndjson": map[string]any{"schema": str}}},
				"responses": with("201", resp("created", GeoJSON))},
		},
		"/collections/{collection}/items/{id}": map[string]any{
			"get":    map[string]any{"summary": "one feature", "parameters": []any{collection, itemID, f}, "responses": with("200", resp("feature", GeoJSON))},
			"put":    map[string]any{"summary": "replace a feature", "security": write, "parameters": []any{collection, itemID}, "responses": with("204", map[string]any{"description": "replaced"})},
			"patch":  map[string]any{"summary": "merge-patch a feature", "security": write, "parameters": []any{collection, itemID}, "responses": with("204", map[string]any{"description": "updated"})},
			"delete": map[string]any{"summary": "delete a feature", "security": write, "parameters": []any{collection, itemID}, "responses": with("204", map[string]any{"description": "deleted"})},
		},
		"/collections/{collection}/clusters": map[string]any{"get": map[string]any{"summary": "grid clusters of a bbox at a zoom",
			"parameters": []any{collection, param("bbox", "query", "CRS84 bbox (default the world)", str, false),
				param("zoom", "query", "0 to 22", map[string]any{"type": "integer"}, true)},
			"responses": with("200", resp("clusters", GeoJSON))}},
		"/tiles/{collection}/{z}/{x}/{y}.mvt": map[string]any{"get": map[string]any{"summary": "Mapbox vector tile (clustered below zoom 14); 204 when empty",
			"parameters": []any{collection, param("z", "path", "zoom", map[string]any{"type": "integer"}, true),
				param("x", "path", "column", map[string]any{"type": "integer"}, true), param("y", "path", "row", map[string]any{"type": "integer"}, true)},
			"responses": with("200", resp("tile", MVT))}},
		"/basemap/{z}/{x}/{y}.mvt": map[string]any{"get": map[string]any{"summary": "the offline base map: Natural Earth countries, regions and urban areas as a vector tile (layer areas), zoom 0 to 10; 204 when empty",
			"parameters": []any{param("z", "path", "zoom", map[string]any{"type": "integer"}, true),
				param("x", "path", "column", map[string]any{"type": "integer"}, true), param("y", "path", "row", map[string]any{"type": "integer"}, true)},
			"responses": with("200", resp("tile", MVT))}},
		"/tiles/{collection}.json": map[string]any{"get": map[string]any{"summary": "TileJSON 3.0.0",
			"parameters": []any{collection}, "responses": with("200", resp("TileJSON", JSON))}},
	}
}
