package geo

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/twpayne/go-geom"
	"github.com/twpayne/go-geom/encoding/ewkb"
)

// The HTML items page names each geometry's type from its EWKB header.
func TestGeometryTypeName(t *testing.T) {
	t.Parallel()
	for _, g := range []geom.T{
		geom.NewPointFlat(geom.XY, []float64{1, 2}).SetSRID(4326),
		geom.NewPointFlat(geom.XYZ, []float64{1, 2, 3}).SetSRID(4326),
		geom.NewLineStringFlat(geom.XY, []float64{0, 0, 1, 1}),
		geom.NewPolygonFlat(geom.XY, []float64{0, 0, 1, 0, 1, 1, 0, 0}, []int{8}).SetSRID(4326),
		geom.NewMultiPointFlat(geom.XYM, []float64{0, 0, 5}),
		geom.NewGeometryCollection().SetSRID(4326),
	} {
		for _, bo := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
			b, err := ewkb.Marshal(g, bo)
			require.NoError(t, err)
			require.Equal(t, typeName(g), geometryTypeName(&Feature{EWKB: b}))
		}
		require.Equal(t, typeName(g), geometryTypeName(&Feature{Geometry: g}))
	}
	require.Equal(t, "none", geometryTypeName(&Feature{}))
	require.Equal(t, "unknown", geometryTypeName(&Feature{EWKB: []byte{1, 99, 0, 0, 0}}))
}
