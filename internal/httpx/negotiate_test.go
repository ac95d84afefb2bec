package httpx

import "testing"

func TestAccepts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		accept, typ string
		want        bool
	}{
		{"", "application/json", true},
		{"application/json", "application/json", true},
		{"application/xml", "application/json", false},
		{"application/*", "application/geo+json", true},
		{"*/*", "image/png", true},
		{"text/html, application/xhtml+xml, */*;q=0.8", "application/json", true},
		{"application/json;q=0, */*", "application/json", false}, // the specific range decides
		{"application/json;q=0.5, application/*;q=0", "application/json", true},
		{"*/*;q=0", "application/json", false},
		{"APPLICATION/JSON", "application/json", true},
		{"image/*", "application/json", false},
	} {
		if got := Accepts(tc.accept, tc.typ); got != tc.want {
			t.Errorf("Accepts(%q, %q) = %v, want %v", tc.accept, tc.typ, got, tc.want)
		}
	}
}
