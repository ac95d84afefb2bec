package bench

import (
	"encoding/json"
	"testing"
)

// TestFacetComparison: the facet scenario's checks of an answer against the
// exact counts: order, the widest swapped gap, and the counts' errors.
func TestFacetComparison(t *testing.T) {
	var exact wordsCounts
	if err := json.Unmarshal([]byte(`[["\"a\"", 100], ["\"b\"", 80], ["\"c\"", 50], ["\"d\"", 10]]`), &exact); err != nil {
		t.Fatal(err)
	}
	if same, worst := exact.order([]string{`"a"`, `"b"`, `"c"`}, 3); !same || worst != 0 {
		t.Fatalf("exact order: same %t, worst %v", same, worst)
	}
	// c above b: exact 50 against 80, a gap of 37.5% of the larger.
	if same, worst := exact.order([]string{`"a"`, `"c"`, `"b"`}, 3); same || worst != 0.375 {
		t.Fatalf("swapped: same %t, worst %v", same, worst)
	}
	// Off by 10%, 0%, 20%; d left out is 100% off but outside the top 3.
	med, worst := exact.estimateError(map[string]int64{`"a"`: 110, `"b"`: 80, `"c"`: 40}, 3)
	if med != 0.1 || worst != 0.2 {
		t.Fatalf("errors: median %v, worst %v", med, worst)
	}
	if med, worst := exact.estimateError(map[string]int64{`"a"`: 100}, 4); med != 1 || worst != 1 {
		t.Fatalf("missing values: median %v, worst %v", med, worst)
	}
}
