package app

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/geoseek/geoseek/geo"
)

// openAPI assembles the OpenAPI 3.0 description served at /openapi.json: the
// geo package describes its OGC API routes itself; the rest are described
// here. TestOpenAPICoversEveryRoute keeps it in step with the router.
func openAPI(version string) map[string]any {
	var b apiDoc
	paths := map[string]any{}
	for _, part := range []map[string]any{b.servicePaths(), b.searchPaths(), b.documentPaths(), b.photoPaths(), b.uploadPaths(), b.mapPaths(), geo.OpenAPIPaths()} {
		for k, v := range part {
			paths[k] = v
		}
	}
	b.collectionWrites(paths)
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{
			"title":       "geoseek",
			"version":     version,
			"description": "Search (full text, semantic, hybrid) and maps (OGC API – Features, clusters, vector tiles) over PostgreSQL documents and photos.",
		},
		"paths": paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{"bearerAuth": map[string]any{"type": "http", "scheme": "bearer", "description": "an API key from `geoseek keys create`"}},
			"schemas":         schemas(),
		},
	}
}

// apiDoc builds the parts of the OpenAPI description; its methods are the
// vocabulary the path tables are written in.
type apiDoc struct{}

func (apiDoc) str() map[string]any     { return map[string]any{"type": "string"} }
func (apiDoc) integer() map[string]any { return map[string]any{"type": "integer", "format": "int64"} }
func (apiDoc) obj() map[string]any     { return map[string]any{"type": "object"} }

// write is the security of the writes: an API key.
func (apiDoc) write() []map[string]any { return []map[string]any{{"bearerAuth": []string{}}} }

func (apiDoc) param(name, in, desc string, schema map[string]any, required bool) map[string]any {
	return map[string]any{"name": name, "in": in, "description": desc, "required": required, "schema": schema}
}

func (b apiDoc) body(mediaType string, schema ...map[string]any) map[string]any {
	sc := b.obj()
	if len(schema) > 0 {
		sc = schema[0]
	}
	return map[string]any{"required": true, "content": map[string]any{mediaType: map[string]any{"schema": sc}}}
}

func (apiDoc) ref(name string) map[string]any {
	return map[string]any{"$ref": "#/components/schemas/" + name}
}

func (b apiDoc) resp(desc, mediaType string, schema ...map[string]any) map[string]any {
	sc := b.obj()
	if len(schema) > 0 {
		sc = schema[0]
	}
	return map[string]any{"description": desc, "content": map[string]any{mediaType: map[string]any{"schema": sc}}}
}

func (b apiDoc) jsonOK() map[string]any { return b.resp("ok", "application/json") }

// op is an operation answering ok with code, and problem+json for 400, 401,
// 403 and 404.
func (b apiDoc) op(summary string, params []any, extra map[string]any, code string, ok map[string]any) map[string]any {
	problem := b.resp("problem details (RFC 9457)", "application/problem+json")
	responses := map[string]any{code: ok, "400": problem, "401": problem, "403": problem, "404": problem}
	m := map[string]any{"summary": summary, "responses": responses}
	if params != nil {
		m["parameters"] = params
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func (b apiDoc) collectionParam() map[string]any {
	return b.param("collection", "path", "collection name", b.str(), true)
}

// servicePaths are the operator's routes: health, readiness, metrics and
// this document.
func (b apiDoc) servicePaths() map[string]any {
	jsonOK := b.jsonOK()
	readyDesc := "`embeddings` (with pgvector) counts the documents `waiting` for their vector and `failing` to get one, " +
		"by collection, with the `last_failure` (document, reason, next retry) and the latest sweep's error (`sweep_error`) when it failed; " +
		"each count stops at 10,000 (`at_least`). A backlog does not make the server unready."
	return map[string]any{
		"/healthz":      map[string]any{"get": b.op("the process is up", nil, nil, "200", jsonOK), "head": b.op("the process is up", nil, nil, "200", map[string]any{"description": "up"})},
		"/readyz":       map[string]any{"get": b.op("database reachable, schema current, extensions, queue depth, embedding backlog; 503 otherwise", nil, map[string]any{"description": readyDesc}, "200", jsonOK)},
		"/metrics":      map[string]any{"get": b.op("Prometheus metrics", nil, nil, "200", b.resp("metrics", "text/plain"))},
		"/openapi.json": map[string]any{"get": b.op("this document", nil, nil, "200", b.resp("OpenAPI 3.0", geo.OpenAPIJSON))},
	}
}

// searchPaths describe /search.
func (b apiDoc) searchPaths() map[string]any {
	str, jsonOK := b.str(), b.jsonOK()
	// Semantic and hybrid answers say what they cannot see.
	searchDesc := "Semantic and hybrid answers carry `unembedded_documents`: how many documents of the collection have no vector yet " +
		"(waiting for the embedding sweep, or with a text the embedder refused) and so cannot be found by meaning; " +
		"0 when every document can; counted up to 1,000. Keyword answers leave it out."
	return map[string]any{
		"/search": map[string]any{
			"get": b.op("search a collection: keyword (default), semantic or hybrid", []any{
				b.param("collection", "query", "collection name", str, true),
				b.param("q", "query", "query text (websearch syntax in keyword mode; words of 5+ letters tolerate typos, listed in the answer's corrections)", str, false),
				b.param("mode", "query", "keyword, semantic or hybrid", map[string]any{"type": "string", "enum": []string{"keyword", "semantic", "hybrid"}}, false),
				b.param("limit", "query", "hits per page", map[string]any{"type": "integer"}, false),
				b.param("cursor", "query", "from the previous page's next_cursor", str, false),
				b.param("f", "query", "json or geojson: a FeatureCollection whose Features are the documents' Features as /collections/{collection}/items writes them, with score, distance and highlights in a \"search\" member of each", str, false),
			}, map[string]any{"description": searchDesc}, "200", jsonOK),
			"post": b.op("search with a JSON body: filters (tags, props, period, geo), facets, sort, vectors", nil,
				map[string]any{"requestBody": b.body("application/json"), "description": searchDesc}, "200", jsonOK),
		},
	}
}

// documentPaths describe the documents API.
func (b apiDoc) documentPaths() map[string]any {
	collection, write, jsonOK := b.collectionParam(), b.write(), b.jsonOK()
	docID := b.param("id", "path", "document id (one sequence for the documents of every collection, so not consecutive within one)", b.integer(), true)
	return map[string]any{
		"/collections/{collection}/documents": map[string]any{
			"post": b.op("create a document (upsert when external_id is given)", []any{collection}, map[string]any{"security": write, "requestBody": b.body("application/json", b.ref("Document"))}, "201", jsonOK),
		},
		"/collections/{collection}/documents/bulk": map[string]any{
			"post": b.op("newline-delimited JSON bulk load, all or nothing", []any{collection}, map[string]any{"security": write, "requestBody": b.body("application/x-ndjson")}, "200", jsonOK),
		},
		"/collections/{collection}/documents/{id}": map[string]any{
			"get":    b.op("one document", []any{collection, docID}, nil, "200", jsonOK),
			"put":    b.op("replace a document", []any{collection, docID}, map[string]any{"security": write, "requestBody": b.body("application/json")}, "200", jsonOK),
			"patch":  b.op("partly update a document (props are merge-patched)", []any{collection, docID}, map[string]any{"security": write, "requestBody": b.body("application/json")}, "200", jsonOK),
			"delete": b.op("delete a document", []any{collection, docID}, map[string]any{"security": write}, "204", map[string]any{"description": "deleted"}),
		},
	}
}

// photoPaths describe the photo routes.
func (b apiDoc) photoPaths() map[string]any {
	str, write, jsonOK := b.str(), b.write(), b.jsonOK()
	photoID := b.param("id", "path", "the photo's document id: the same id as in /collections/photos/items/{id} and in search hits; document ids are one sequence for every collection, so photo ids are not consecutive", b.integer(), true)
	return map[string]any{
		"/photos": map[string]any{
			"post": b.op("upload photos (multipart, one or many files, streamed); the answer is {\"results\": [...]}, one result per file, whatever their number: 201 when every file is new, 200 when every file was stored already, 207 when they differ; when every file failed, the file's (or first file's) problem+json carrying the same results member", nil,
				map[string]any{"security": write, "requestBody": b.body("multipart/form-data")}, "201", b.resp("a result per file", "application/json", b.ref("UploadResult"))),
		},
		"/photos/{id}": map[string]any{
			"get":    b.op("one photo with its EXIF fields", []any{photoID}, nil, "200", jsonOK),
			"delete": b.op("delete a photo (its file when no other photo needs it)", []any{photoID}, map[string]any{"security": write}, "204", map[string]any{"description": "deleted"}),
		},
		"/photos/{id}/original": map[string]any{
			"get":  b.op("the original bytes (Range, ETag)", []any{photoID}, nil, "200", b.resp("the original", "application/octet-stream")),
			"head": b.op("the original's headers", []any{photoID}, nil, "200", map[string]any{"description": "headers"}),
		},
		"/photos/{id}/thumbnail": map[string]any{
			"get": b.op("a JPEG thumbnail, EXIF orientation applied", []any{photoID, b.param("size", "query", "256 or 1024", map[string]any{"type": "integer", "enum": []int{256, 1024}}, false)}, nil, "200", b.resp("thumbnail", "image/jpeg")),
		},
		"/photos/{id}/similar": map[string]any{
			"get": b.op("near duplicates by perceptual-hash Hamming distance", []any{photoID, b.param("max_distance", "query", "0 to 64", map[string]any{"type": "integer"}, false)}, nil, "200", jsonOK),
		},
		"/photos/sha256/{hex}": map[string]any{
			"get":  b.op("the photo with these bytes, if stored", []any{b.param("hex", "path", "SHA-256, 64 hex digits", str, true)}, nil, "200", jsonOK),
			"head": b.op("do you already have these bytes? 200 or 404", []any{b.param("hex", "path", "SHA-256, 64 hex digits", str, true)}, nil, "200", map[string]any{"description": "stored"}),
		},
	}
}

// collectionWrites adds the documents API's writes of collections to geo's
// paths: POST /collections, PATCH and DELETE /collections/{c}.
func (b apiDoc) collectionWrites(paths map[string]any) {
	collection, write, jsonOK := b.collectionParam(), b.write(), b.jsonOK()
	if coll, ok := paths["/collections"].(map[string]any); ok {
		coll["post"] = b.op("create a collection (name, title, description, default language, embedder)", nil,
			map[string]any{"security": write, "requestBody": b.body("application/json")}, "201", jsonOK)
	}
	if coll, ok := paths["/collections/{collection}"].(map[string]any); ok {
		coll["patch"] = b.op("change title, description, default_lang (new documents), or (admin scope) embedder, embedding_model, embedding_dim: clears the vectors and re-embeds", []any{collection},
			map[string]any{"security": write, "requestBody": b.body("application/json")}, "200", jsonOK)
		del := b.op("delete the collection with its documents, photos and their files (admin scope); 202 while a job deletes a large one's rows, already invisible", []any{collection},
			map[string]any{"security": write}, "204", map[string]any{"description": "deleted"})
		del["responses"].(map[string]any)["202"] = b.resp("accepted: gone for every request, its rows being deleted by a job", "application/json")
		coll["delete"] = del
	}
}

func serveOpenAPI(version string) gin.HandlerFunc {
	doc := openAPI(version)
	return func(c *gin.Context) {
		c.Header("Cache-Control", "public, max-age=300")
		c.Header("Content-Type", geo.OpenAPIJSON)
		c.JSON(http.StatusOK, doc)
	}
}

// schemas are the shapes shared by several routes.
func schemas() map[string]any {
	str := map[string]any{"type": "string"}
	dateTime := map[string]any{"type": "string", "format": "date-time", "nullable": true}
	return map[string]any{
		"Period": map[string]any{
			"type":        "object",
			"description": "a time range, the same object in documents, bulk loads, search filters and search results; null or missing from/to is unbounded; an instant is {from: t, to: t, bounds: \"[]\"}. GeoJSON Features write it the OGC way: datetime (an instant) or start/end.",
			"properties": map[string]any{
				"from":   dateTime,
				"to":     dateTime,
				"bounds": map[string]any{"type": "string", "enum": []string{"[)", "[]", "()", "(]"}, "default": "[)", "description": "which ends are included, as in a range literal"},
			},
			"additionalProperties": false,
		},
		"Document": map[string]any{
			"type": "object",
			"properties": map[string]any{
				"external_id": str, "title": str, "body": str, "lang": str,
				"tags":     map[string]any{"type": "array", "items": str},
				"props":    map[string]any{"type": "object", "description": "any JSON object; its top-level keys may not be title, body, lang, tags, external_id, datetime, start, end, created, updated or thumbnail (a Feature's own properties; refused with a 400 naming the key)"},
				"period":   map[string]any{"$ref": "#/components/schemas/Period"},
				"geometry": map[string]any{"type": "object", "description": "a GeoJSON geometry (WGS84 lon/lat)"},
				"vector":   map[string]any{"type": "array", "items": map[string]any{"type": "number"}},
			},
			"additionalProperties": false,
		},
		"CheckRequest": map[string]any{
			"type":        "object",
			"description": "either sha256 or files, at most 5,000 entries",
			"properties": map[string]any{
				"sha256": map[string]any{"type": "array", "items": str, "maxItems": 5000},
				"files": map[string]any{"type": "array", "maxItems": 5000, "items": map[string]any{"type": "object", "properties": map[string]any{
					"sha256": str, "size": map[string]any{"type": "integer", "format": "int64"},
				}}},
			},
		},
		"CheckResult": map[string]any{
			"type": "object",
			"properties": map[string]any{
				"existing": map[string]any{"type": "array", "items": map[string]any{"type": "object", "properties": map[string]any{
					"sha256": str, "id": map[string]any{"type": "integer", "format": "int64", "description": "the photo's id"},
				}}},
				"missing": map[string]any{"type": "array", "items": str},
			},
		},
		"UploadResult": map[string]any{
			"type": "object",
			"properties": map[string]any{
				"results": map[string]any{"type": "array", "items": map[string]any{
					"type": "object",
					"properties": map[string]any{
						"file":   str,
						"status": map[string]any{"type": "integer"},
						"photo":  map[string]any{"type": "object", "description": "the photo (its id is its document id) when stored"},
						"error":  map[string]any{"type": "object", "description": "the file's problem details when it failed"},
					},
				}},
			},
		},
	}
}

// mapPaths describe the map page and its assets.
func (b apiDoc) mapPaths() map[string]any {
	str, html := b.str(), b.resp("HTML page", "text/html")
	return map[string]any{
		"/map": map[string]any{"get": b.op("the map page: browse, search and upload photos, open any collection (its assets are built with make build)", nil, nil, "200", html)},
		"/map/assets/{file}": map[string]any{
			"get":  b.op("a built asset of the map page (content-hashed name, cached for a year)", []any{b.param("file", "path", "file name from the build", str, true)}, nil, "200", b.resp("asset", "text/javascript")),
			"head": b.op("a built asset of the map page", []any{b.param("file", "path", "file name from the build", str, true)}, nil, "200", map[string]any{"description": "present"}),
		},
		"/map/icon.svg": map[string]any{"get": b.op("the pages' icon", nil, nil, "200", b.resp("icon", "image/svg+xml"))},
	}
}

// uploadPaths describe the bulk client's routes: the hash check and
// resumable (tus) uploads.
func (b apiDoc) uploadPaths() map[string]any {
	str, write := b.str(), b.write()
	uploadID := b.param("id", "path", "a resumable upload's id (from the Location of its creation)", str, true)
	uploadCreate := map[string]any{
		"post": b.op("tus 1.0 resumable upload (extensions creation, creation-with-upload, creation-defer-length, termination, expiration): Upload-Length (at most --max-upload-bytes) and Upload-Metadata \"filename <base64>\"; "+
			"answers 201 with Location /uploads/{id} and Upload-Expires (--upload-expiry after the last write)", nil,
			map[string]any{"security": write}, "201", map[string]any{"description": "created: Location, Upload-Expires"}),
		"options": b.op("tus discovery: Tus-Version, Tus-Extension, Tus-Max-Size", nil, nil, "200", map[string]any{"description": "tus headers"}),
	}
	return map[string]any{
		"/photos/check": map[string]any{
			"post": b.op("which of these files are stored already? Body {\"sha256\": [\"<64 hex>\", ...]} or {\"files\": [{\"sha256\": \"<64 hex>\", \"size\": 123}, ...]}, at most 5,000 (more: 413); "+
				"answers {\"existing\": [{\"sha256\", \"id\"}], \"missing\": [\"<hex>\"]}, each in request order; a given size that differs from the stored photo's counts as missing; a bad hash is a 400 naming its index (sha256[3], files[3].sha256)", nil,
				map[string]any{"requestBody": b.body("application/json", b.ref("CheckRequest"))}, "200", b.resp("stored and missing hashes", "application/json", b.ref("CheckResult"))),
		},
		"/uploads":  uploadCreate,
		"/uploads/": uploadCreate,
		"/uploads/{id}": map[string]any{
			"head":    b.op("tus: the upload's offset (Upload-Offset), length and metadata; a finished upload stays complete until it expires", []any{uploadID}, map[string]any{"security": write}, "200", map[string]any{"description": "Upload-Offset, Upload-Length"}),
			"patch":   b.op("tus: append bytes at Upload-Offset (Content-Type application/offset+octet-stream); the PATCH that completes the upload answers only once its photo is committed (or its refusal recorded): read the outcome at /uploads/{id}/result. 409 at a wrong offset; 423 (retry after Retry-After) while another request holds the upload or took it over from this one, keeping what arrived; a client silent for --upload-idle-timeout is cut off, keeping what arrived", []any{uploadID}, map[string]any{"security": write, "requestBody": b.body("application/offset+octet-stream")}, "204", map[string]any{"description": "bytes stored: Upload-Offset, Upload-Expires"}),
			"delete":  b.op("tus termination: remove the upload (never the photo it became)", []any{uploadID}, map[string]any{"security": write}, "204", map[string]any{"description": "terminated"}),
			"options": b.op("tus discovery", []any{uploadID}, nil, "200", map[string]any{"description": "Tus-Version, Tus-Extension, Tus-Max-Size"}),
		},
		"/uploads/{id}/result": map[string]any{
			"get": b.op("a finished upload's outcome, the same answer as POST /photos for one file: 201 created or 200 already stored, with the photo; or the file's problem+json (415 not an image, ...) with the results member. 409 while bytes are missing (detail gives the offset); 404 for an unknown, terminated or expired upload; 503 when storing failed for a passing reason (try again: it is stored then)", []any{uploadID}, map[string]any{"security": write}, "201", b.resp("the outcome", "application/json", b.ref("UploadResult"))),
		},
	}
}
