package geo

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/geoseek/geoseek/document"
)

// ogcGoldenCollections cover a collection without extent, one with both
// extents and props keys, and open temporal bounds on either side.
func ogcGoldenCollections() []*Collection {
	t1 := time.Date(2023, 6, 1, 2, 3, 4, 5, time.FixedZone("CEST", 7200))
	t2 := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	dim := 384
	return []*Collection{
		{Name: "empty one", Title: "Empty <&>", Description: "nothing yet", DefaultLang: "simple", Embedder: "none"},
		{Name: "places", Title: "Places", Description: "cities", DefaultLang: "english", Embedder: "offline",
			EmbeddingModel: "hash-384", EmbeddingDim: &dim, Extent: &document.Extent{MinX: -30, MinY: -89.5, MaxX: 10.25, MaxY: 89},
			TMin: &t1, TMax: &t2, PropKeys: []string{"iso", "kind", "title"}},
		{Name: "since", TMin: &t1},
		{Name: "until", TMax: &t2, Extent: &document.Extent{MinX: 1, MinY: 2, MaxX: 3, MaxY: 4}},
	}
}

// TestOGCDocumentsGolden pins the JSON of the metadata documents byte for
// byte: clients (GDAL's OAPIF driver among them) read them as they are.
func TestOGCDocumentsGolden(t *testing.T) {
	t.Parallel()
	cols := ogcGoldenCollections()
	const base = "http://example.com:8080"
	for name, doc := range map[string]any{
		"collections":    newCollectionList(base, cols),
		"queryables":     newQueryables(base, cols[1]),
		"tilejson":       newTileJSON(base, cols[1]),
		"tilejson-empty": newTileJSON(base, cols[0]),
		"landing":        newLanding(base, "geoseek", "Search & map <documents>"),
		"conformance":    newConformance(),
	} {
		want, err := os.ReadFile(filepath.Join("testdata", "ogc", name+".json"))
		require.NoError(t, err)
		got, err := json.Marshal(doc)
		require.NoError(t, err)
		// The golden files are indented for reading; compact them to
		// compare the bytes a client receives.
		var compact bytes.Buffer
		require.NoError(t, json.Compact(&compact, want))
		require.Equal(t, compact.String(), string(got), name)
	}
}
