package upload

import (
	"net/http"
	"testing"
)

// TestReasonSaysTheTitleOnce: a problem whose detail starts with its title
// (as geoseek's do) is reported with the title once, after the status.
func TestReasonSaysTheTitleOnce(t *testing.T) {
	for _, c := range []struct{ title, detail, want string }{
		{"Unsupported media type", "Unsupported media type: the JPEG has no frame header", "Unsupported media type: the JPEG has no frame header"},
		{"Invalid request", "sha256[3] is not 64 hex digits", "Invalid request: sha256[3] is not 64 hex digits"},
		{"Too large", "", "Too large"},
		{"", "no title", "no title"},
	} {
		if got := reason(c.title, c.detail); got != c.want {
			t.Errorf("reason(%q, %q) = %q, want %q", c.title, c.detail, got, c.want)
		}
	}
	e := &statusError{status: http.StatusUnsupportedMediaType, detail: reason("Unsupported media type", "Unsupported media type: the JPEG has no frame header")}
	if got, want := e.Error(), "415 Unsupported media type: the JPEG has no frame header"; got != want {
		t.Errorf("statusError = %q, want %q", got, want)
	}
}
