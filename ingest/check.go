package ingest

import (
	"context"
	"encoding/hex"
	"fmt"

	"github.com/geoseek/geoseek/internal/pg"
	"github.com/geoseek/geoseek/internal/problem"
)

// MaxCheck is the most hashes one Check (POST /photos/check) answers.
const MaxCheck = 5000

// CheckFile is a file a bulk client may upload: its SHA-256 and, when
// known, its size.
type CheckFile struct {
	SHA256 []byte
	// Size, when positive, must match the stored photo's size for it to
	// count as existing.
	Size int64
}

// Existing is a checked hash that is stored, and its photo.
type Existing struct {
	SHA256 string `json:"sha256"`
	ID     int64  `json:"id"`
}

// CheckResult says which of the checked hashes are stored, each list in
// the order of the request (a hash sent twice appears twice).
type CheckResult struct {
	Existing []Existing `json:"existing"`
	Missing  []string   `json:"missing"`
}

// Check answers "which of these files are stored already?" in one index
// lookup. A file whose size is given and differs from the stored photo's is
// missing (the upload then settles it: equal bytes give one photo). More
// than MaxCheck files is problem.ErrTooLarge.
func (s *Service) Check(ctx context.Context, files []CheckFile) (*CheckResult, error) {
	if len(files) > MaxCheck {
		return nil, fmt.Errorf("%w: at most %d hashes per check, got %d", problem.ErrTooLarge, MaxCheck, len(files))
	}
	out := &CheckResult{Existing: []Existing{}, Missing: []string{}}
	if len(files) == 0 {
		return out, nil
	}
	sums := make([][]byte, len(files))
	for i, f := range files {
		sums[i] = f.SHA256
	}
	type stored struct {
		id   int64
		size int64
	}
	found := make(map[string]stored, len(files))
	rows, err := s.pool.Query(ctx, `SELECT sha256, document_id, size_bytes FROM photos WHERE sha256 = ANY($1)`, sums)
	if err != nil {
		return nil, fmt.Errorf("ingest: check: %w", pg.Interpret(err))
	}
	for rows.Next() {
		var sum []byte
		var st stored
		if err := rows.Scan(&sum, &st.id, &st.size); err != nil {
			rows.Close()
			return nil, fmt.Errorf("ingest: check: %w", pg.Interpret(err))
		}
		found[string(sum)] = st
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ingest: check: %w", pg.Interpret(err))
	}
	for _, f := range files {
		h := hex.EncodeToString(f.SHA256)
		if st, ok := found[string(f.SHA256)]; ok && (f.Size <= 0 || f.Size == st.size) {
			out.Existing = append(out.Existing, Existing{SHA256: h, ID: st.id})
			continue
		}
		out.Missing = append(out.Missing, h)
	}
	return out, nil
}
