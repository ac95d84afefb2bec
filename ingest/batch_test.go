package ingest

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// stageItem receives data as an upload does and prepares it for the
// committer.
func stageItem(t *testing.T, s *Service, name string, data []byte) *commitItem {
	t.Helper()
	up, err := s.originals.Receive(bytes.NewReader(data), s.cfg.MaxFileBytes)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(up.Abort)
	meta, err := ReadMeta(up.File(), up.Size())
	if err != nil {
		t.Fatal(err)
	}
	return &commitItem{ctx: context.Background(), name: name, up: up, meta: meta, done: make(chan commitResult, 1)}
}

// TestCommitBatch stores several photos in one transaction: new ones,
// the same bytes twice, and bytes stored before; then a batch whose hook
// fails for one photo, which fails alone while the rest are stored.
func TestCommitBatch(t *testing.T) {
	t.Parallel()
	var calls [][]int64
	failName := ""
	b := setup(t, Config{AfterInsert: func(ctx context.Context, tx pgx.Tx, ids []int64) error {
		calls = append(calls, ids)
		var bad int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM photos WHERE document_id = ANY($1) AND original_name = $2`, ids, failName).Scan(&bad); err != nil {
			return err
		}
		if bad > 0 {
			return errors.New("hook refuses " + failName)
		}
		return nil
	}})
	s := b.svc
	ctx := context.Background()
	apple := corpusFile(t, "exiftool__Apple.jpg").data
	gopro := corpusFile(t, "exiftool__GoPro.jpg").data
	canon := corpusFile(t, "exif-samples__Canon_40D.jpg").data
	nikon := corpusFile(t, "exif-samples__Nikon_D70.jpg").data
	before, _, err := s.Ingest(ctx, "before.jpg", bytes.NewReader(canon))
	if err != nil {
		t.Fatal(err)
	}

	batch := []*commitItem{
		stageItem(t, s, "apple.jpg", apple),
		stageItem(t, s, "gopro.jpg", gopro),
		stageItem(t, s, "apple-again.jpg", apple),
		stageItem(t, s, "canon.jpg", canon),
	}
	calls = nil
	s.commitBatch(batch)
	var res []commitResult
	for _, it := range batch {
		res = append(res, <-it.done)
		it.up.Abort() // as ingest does when the committer is done
	}
	for i, r := range res {
		if r.err != nil || r.photo == nil {
			t.Fatalf("photo %d: %v", i, r.err)
		}
	}
	if !res[0].created || !res[1].created || res[2].created || res[3].created {
		t.Errorf("created = %v %v %v %v, want true true false false", res[0].created, res[1].created, res[2].created, res[3].created)
	}
	if res[2].photo.ID != res[0].photo.ID || res[3].photo.ID != before.ID {
		t.Errorf("same bytes, other photo: %d/%d, %d/%d", res[2].photo.ID, res[0].photo.ID, res[3].photo.ID, before.ID)
	}
	if len(calls) != 1 || len(calls[0]) != 2 {
		t.Errorf("hook calls %v, want one call with the two new photos", calls)
	}
	// Read back through the one-photo path: the same fields.
	for _, r := range res[:2] {
		got, err := s.Get(ctx, r.photo.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.SHA256 != r.photo.SHA256 || got.Title != r.photo.Title || got.OriginalName != r.photo.OriginalName ||
			!bytes.Equal(got.Geometry, r.photo.Geometry) || len(got.EXIF) == 0 || !bytes.Equal(got.EXIF, r.photo.EXIF) {
			t.Errorf("photo %d read back differs:\n%+v\n%+v", r.photo.ID, got, r.photo)
		}
	}

	// One photo of the next batch is refused: the batch rolls back and
	// each photo is tried alone.
	failName = "bad.jpg"
	batch = []*commitItem{
		stageItem(t, s, "nikon.jpg", nikon),
		stageItem(t, s, "bad.jpg", corpusFile(t, "exif-samples__DSCN0010.jpg").data),
	}
	s.commitBatch(batch)
	ok, bad := <-batch[0].done, <-batch[1].done
	batch[0].up.Abort()
	batch[1].up.Abort()
	if ok.err != nil || !ok.created {
		t.Errorf("the good photo of a failed batch: %v", ok.err)
	}
	if bad.err == nil {
		t.Error("the refused photo was stored")
	}
	var n int
	if err := b.db.Pool.QueryRow(ctx, `SELECT count(*) FROM photos`).Scan(&n); err != nil || n != 4 {
		t.Errorf("%d photos, want 4 (%v)", n, err)
	}
	if files, tmp := countOriginals(t, b.dir); files != 4 || tmp != 0 {
		t.Errorf("%d originals, %d temp files; want 4, 0", files, tmp)
	}

	// One file of the next batch cannot be stored (its rows are written
	// while the files are committed): that photo fails alone, with no row,
	// and the others are stored.
	failName = ""
	batch = []*commitItem{
		stageItem(t, s, "olympus.jpg", corpusFile(t, "exif-samples__Olympus_C8080WZ.jpg").data),
		stageItem(t, s, "disk-full.jpg", corpusFile(t, "exif-samples__Pentax_K10D.jpg").data),
		stageItem(t, s, "kodak.jpg", corpusFile(t, "exif-samples__Kodak_CX7530.jpg").data),
	}
	batch[1].up = failingCommit{batch[1].up}
	s.commitBatch(batch)
	for i, it := range batch {
		r := <-it.done
		it.up.Abort()
		if i == 1 {
			if r.err == nil || !strings.Contains(r.err.Error(), "disk full") {
				t.Errorf("the photo whose file failed: %v, want its error", r.err)
			}
		} else if r.err != nil || !r.created {
			t.Errorf("photo %d of a batch with a failing file: %v", i, r.err)
		}
	}
	if err := b.db.Pool.QueryRow(ctx, `SELECT count(*) FROM photos WHERE original_name = 'disk-full.jpg'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d rows for the photo whose file failed (%v)", n, err)
	}
	if files, tmp := countOriginals(t, b.dir); files != 6 || tmp != 0 {
		t.Errorf("%d originals, %d temp files; want 6, 0", files, tmp)
	}
}

// failingCommit is a staged file whose Commit fails, as on a full disk.
type failingCommit struct{ staged }

func (failingCommit) Commit() (string, error) { return "", errors.New("disk full") }
