package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/geoseek/geoseek/internal/httpx"
	"github.com/geoseek/geoseek/internal/problem"
)

// checkRequest is the body of POST /photos/check: either bare hashes or
// files with their sizes.
type checkRequest struct {
	SHA256 []string `json:"sha256"`
	Files  []struct {
		SHA256 string `json:"sha256"`
		Size   int64  `json:"size"`
	} `json:"files"`
}

// parseCheck validates a check body into files. A bad hash is a 400 naming
// its index (sha256[3], files[3].sha256).
func parseCheck(req *checkRequest) ([]CheckFile, error) {
	switch {
	case req.SHA256 != nil && req.Files != nil:
		return nil, problem.Invalid("body", "send either sha256 or files, not both")
	case req.SHA256 == nil && req.Files == nil:
		return nil, problem.Invalid("body", `want {"sha256": ["<64 hex>", ...]} or {"files": [{"sha256": "<64 hex>", "size": 123}, ...]}`)
	}
	n := max(len(req.SHA256), len(req.Files))
	if n > MaxCheck {
		return nil, fmt.Errorf("%w: at most %d hashes per check, got %d", problem.ErrTooLarge, MaxCheck, n)
	}
	out := make([]CheckFile, n)
	for i, h := range req.SHA256 {
		sum, err := ParseSHA256(strings.ToLower(h))
		if err != nil {
			return nil, problem.Invalid(fmt.Sprintf("sha256[%d]", i), "want 64 hexadecimal digits")
		}
		out[i] = CheckFile{SHA256: sum}
	}
	for i, f := range req.Files {
		sum, err := ParseSHA256(strings.ToLower(f.SHA256))
		if err != nil {
			return nil, problem.Invalid(fmt.Sprintf("files[%d].sha256", i), "want 64 hexadecimal digits")
		}
		if f.Size < 0 {
			return nil, problem.Invalid(fmt.Sprintf("files[%d].size", i), "want a size in bytes, 0 or more")
		}
		out[i] = CheckFile{SHA256: sum, Size: f.Size}
	}
	return out, nil
}

// check answers which of a bulk client's files are stored already.
func (h *Handler) check(c *gin.Context) {
	var req checkRequest
	dec := json.NewDecoder(c.Request.Body)
	if err := dec.Decode(&req); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			httpx.Respond(c, err)
			return
		}
		httpx.Respond(c, problem.Invalid("body", "want a JSON object: %v", err))
		return
	}
	files, err := parseCheck(&req)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	res, err := h.svc.Check(c.Request.Context(), files)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	c.JSON(http.StatusOK, res)
}
