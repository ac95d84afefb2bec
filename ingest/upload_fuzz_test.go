package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/geoseek/geoseek/internal/auth"
	"github.com/geoseek/geoseek/internal/pgtest"
	"github.com/geoseek/geoseek/internal/textcheck"
)

// FuzzUpload sends arbitrary multipart bodies (boundary "zz") to POST
// /photos: part headers, file names, form fields and contents are the
// fuzzer's. Whatever it sends, the answer is JSON and never a 5xx.
func FuzzUpload(f *testing.F) {
	for _, s := range []string{
		"--zz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n\xff\xd8\xff\xe0\x00\x10JFIF\x00\r\n--zz--\r\n",
		"--zz\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n--zz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"caf\xc3.jpg\"\r\n\r\nGIF89a\r\n--zz--\r\n",
		"--zz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"../../etc/passwd\"\r\n\r\n\x89PNG\r\n\x1a\n\r\n--zz--\r\n",
		"--zz--\r\n",
	} {
		f.Add([]byte(s))
	}
	db := pgtest.New(f)
	svc, err := New(Config{DataDir: f.TempDir()}, db.Pool, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	gin.SetMode(gin.TestMode)
	r := gin.New()
	store := auth.NewStore(db.Pool)
	r.Use(auth.Middleware(store, false), textcheck.Middleware())
	NewHandler(svc).Register(r)
	_, key, err := store.Create(context.Background(), "fuzz", []auth.Scope{auth.Write, auth.Read})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest("POST", "/photos", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "multipart/form-data; boundary=zz")
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%d for %q: %s", w.Code, body, w.Body.String())
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%d: not JSON: %q", w.Code, w.Body.String())
		}
	})
}
