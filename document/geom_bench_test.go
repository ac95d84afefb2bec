package document

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkDecodeValidateGeometry: decoding and validating one document's
// geometry, as every write and every NDJSON bulk line does.
func BenchmarkDecodeValidateGeometry(b *testing.B) {
	ring := func(n int) string {
		var sb strings.Builder
		sb.WriteString(`[[`)
		for i := range n - 1 {
			fmt.Fprintf(&sb, "[%d.5,%d.25],", i%170, (i*7)%80)
		}
		sb.WriteString(`[0.5,0.25]]]`)
		return sb.String()
	}
	for name, g := range map[string]string{
		"point":     `{"type":"Point","coordinates":[13.4,52.5]}`,
		"polygon1k": `{"type":"Polygon","coordinates":` + ring(1000) + `}`,
	} {
		body := []byte(`{"title":"t","geometry":` + g + `}`)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				d, err := DecodeJSON("c", body)
				if err != nil {
					b.Fatal(err)
				}
				if err := d.Validate(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
