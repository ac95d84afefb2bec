package bench

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/geoseek/geoseek/ingest"
)

// upload/tus: 1,000 distinct ≥3 MB photos (Quick: 24) sent by four
// clients over loopback as tus uploads (create, one PATCH, read the
// result), photos/s, against the same files sent as multipart POST /photos
// (the photos of each pass are deleted first, so both store every file).
func init() {
	Register(Scenario{Name: "upload/tus", Run: runUploadTus})
}

func runUploadTus(ctx context.Context, env *Env) ([]Result, error) {
	n, limit := 1000, 15*time.Minute
	if env.Quick {
		n, limit = 24, 2*time.Minute
	}
	paths, err := PhotoCorpus(ctx, filepath.Join(env.DataDir, "bench-photo-corpus"), n, 3<<20)
	if err != nil {
		return nil, err
	}
	pass := func(fn func(ctx context.Context, env *Env, path string) (int64, error)) (float64, float64, error) {
		// Each pass starts alike: no rows or files of these photos, and no
		// thumbnail jobs of the previous pass competing for the CPU.
		if err := clearBenchPhotos(ctx, env, paths); err != nil {
			return 0, 0, err
		}
		if err := removeOriginals(env, paths); err != nil {
			return 0, 0, err
		}
		if err := waitThumbnails(ctx, env); err != nil {
			return 0, 0, err
		}
		done, bytes, el, err := parallel(ctx, 4, paths, limit, func(ctx context.Context, p string) (int64, error) { return fn(ctx, env, p) })
		if err != nil {
			return 0, 0, err
		}
		if done != len(paths) {
			return 0, 0, fmt.Errorf("bench: %d of %d photos uploaded within %v", done, len(paths), limit)
		}
		return float64(done) / el.Seconds(), float64(bytes) / el.Seconds() / 1e6, nil
	}
	tus, tusMB, err := pass(tusUpload)
	if err != nil {
		return nil, fmt.Errorf("tus: %w", err)
	}
	mp, mpMB, err := pass(multipartUpload)
	if err != nil {
		return nil, fmt.Errorf("multipart: %w", err)
	}
	return []Result{{
		Scenario: "upload/tus", Geoseek: tus, Baseline: mp, Unit: "photos/s",
		Note: fmt.Sprintf("baseline: multipart POST /photos; 4 clients, %d files ≥3 MB; %.1f vs %.1f MB/s", n, tusMB, mpMB),
	}}, nil
}

// tusUpload sends one file as a tus upload in one PATCH and checks that
// its result is a stored photo.
func tusUpload(ctx context.Context, env *Env, path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	hdr := func(req *http.Request) {
		req.Header.Set("Authorization", "Bearer "+env.AdminKey)
		req.Header.Set("Tus-Resumable", "1.0.0")
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, env.BaseURL+"/uploads/", nil)
	hdr(req)
	req.Header.Set("Upload-Length", strconv.FormatInt(fi.Size(), 10))
	req.Header.Set("Upload-Metadata", "filename "+base64.StdEncoding.EncodeToString([]byte(filepath.Base(path))))
	loc, err := expect(env, req, http.StatusCreated)
	if err != nil {
		return 0, err
	}
	req, _ = http.NewRequestWithContext(ctx, http.MethodPatch, env.BaseURL+loc, f)
	hdr(req)
	req.ContentLength = fi.Size()
	req.Header.Set("Upload-Offset", "0")
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	if _, err := expect(env, req, http.StatusNoContent); err != nil {
		return 0, err
	}
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, env.BaseURL+loc+"/result", nil)
	hdr(req)
	if _, err := expect(env, req, http.StatusCreated); err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// multipartUpload sends one file as a multipart POST /photos, streamed.
func multipartUpload(ctx context.Context, env *Env, path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	var n int64
	go func() {
		fw, err := mw.CreateFormFile("file", filepath.Base(path))
		if err == nil {
			n, err = io.Copy(fw, f)
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, env.BaseURL+"/photos", pr)
	req.Header.Set("Authorization", "Bearer "+env.AdminKey)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if _, err := expect(env, req, http.StatusCreated); err != nil {
		return 0, err
	}
	return n, nil
}

// expect sends req and checks its status; it returns the Location.
func expect(env *Env, req *http.Request, status int) (string, error) {
	resp, err := env.Client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != status {
		return "", fmt.Errorf("%s %s: %d %s", req.Method, req.URL.Path, resp.StatusCode, body)
	}
	return resp.Header.Get("Location"), nil
}

// removeOriginals removes the stored files of these photos, so that a pass
// writes every file anew.
func removeOriginals(env *Env, paths []string) error {
	for _, p := range paths {
		sum, _, err := hashFile(p)
		if err != nil {
			return err
		}
		err = os.Remove(filepath.Join(env.DataDir, "originals", ingest.Key(sum)))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// waitThumbnails waits until no thumbnail job is waiting or running.
func waitThumbnails(ctx context.Context, env *Env) error {
	for {
		var n int
		err := env.Pool.QueryRow(ctx, `SELECT count(*) FROM river_job
			WHERE kind = 'geoseek.photo_thumbnails' AND state IN ('available', 'running', 'retryable', 'scheduled')`).Scan(&n)
		if err != nil || n == 0 {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
