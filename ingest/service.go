package ingest

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/twpayne/go-geom"

	"github.com/geoseek/geoseek/document"
	"github.com/geoseek/geoseek/internal/pg"
	"github.com/geoseek/geoseek/internal/problem"
)

// Collection is the document collection photos belong to (created by the
// 00001 migration).
const Collection = "photos"

// Config is what the ingest service needs.
type Config struct {
	// DataDir holds originals/ and thumbnails/.
	DataDir string
	// MaxFileBytes is the largest file accepted (default 200 MB).
	MaxFileBytes int64
	// MaxFiles is the most files in one upload request (default 100).
	MaxFiles int
	// PipelineFiles and PipelineBytes bound what one upload request keeps
	// received and not yet committed (default 16 files, 256 MiB of staged
	// files; see Pipeline): enough to fill the committers' batches, while
	// one client cannot fill the disk or the descriptor table.
	PipelineFiles int
	PipelineBytes int64
	// MaxPixels is the largest image (width × height) decoded for
	// thumbnails (default 100 megapixels); larger images get none.
	MaxPixels int64
	// DecodeBudget is the memory, in bytes, that images being decoded for
	// thumbnails may take at once (width × height × bytes per pixel, from
	// their headers; default 512 MiB). A decode waits until its share is
	// free; an image that needs more than all of it gets no thumbnail.
	DecodeBudget int64
	// Places are the Natural Earth datasets LoadPlaces loads (default
	// DefaultPlaces).
	Places []string
	// UploadExpiry is how long a resumable upload is kept after its last
	// write, finished or not (default 24 h).
	UploadExpiry time.Duration
	// UploadSweepInterval is how often expired uploads are removed
	// (default 10 min).
	UploadSweepInterval time.Duration
	// SweepInterval is how often the originals store is swept of crash
	// leftovers (default 1 h), and OrphanAge how long a temp file no
	// upload holds must have gone unwritten to be one (default 1 h).
	SweepInterval time.Duration
	OrphanAge     time.Duration
	// UploadIdleTimeout ends a PATCH whose client sends nothing for this
	// long (default 60 s); the upload resumes from what arrived.
	UploadIdleTimeout time.Duration
	// uploadLockWait bounds a tus request's wait for an upload another
	// request holds (tusd's AcquireLockTimeout; default 20 s).
	uploadLockWait time.Duration
	// DeleteOrphans makes the sweeper delete originals that have no row
	// instead of adopting them (re-ingesting them as new photos).
	DeleteOrphans bool
	// AfterInsert, when set, runs inside the transaction of new photos
	// after their documents, photo rows and thumbnail jobs are written,
	// e.g. to queue the documents' embedding jobs. Concurrent ingests share
	// a transaction (see batch.go), so it gets every new document id of it.
	// An error rolls those photos back (each is then tried alone).
	AfterInsert func(ctx context.Context, tx pgx.Tx, documentIDs []int64) error
}

func (c *Config) defaults() error {
	if c.DataDir == "" {
		return errors.New("ingest: Config.DataDir is required")
	}
	if c.MaxFileBytes <= 0 {
		c.MaxFileBytes = 200 << 20
	}
	if c.MaxFiles <= 0 {
		c.MaxFiles = 100
	}
	if c.PipelineFiles <= 0 {
		c.PipelineFiles = 16
	}
	if c.PipelineBytes <= 0 {
		c.PipelineBytes = 256 << 20
	}
	if c.MaxPixels <= 0 {
		c.MaxPixels = 100_000_000
	}
	if c.UploadExpiry <= 0 {
		c.UploadExpiry = 24 * time.Hour
	}
	if c.UploadSweepInterval <= 0 {
		c.UploadSweepInterval = 10 * time.Minute
	}
	if c.SweepInterval <= 0 {
		c.SweepInterval = time.Hour
	}
	if c.OrphanAge <= 0 {
		c.OrphanAge = time.Hour
	}
	if c.UploadIdleTimeout <= 0 {
		c.UploadIdleTimeout = 60 * time.Second
	}
	if c.uploadLockWait <= 0 {
		c.uploadLockWait = 20 * time.Second
	}
	if c.DecodeBudget <= 0 {
		c.DecodeBudget = 512 << 20
	}
	if c.Places == nil {
		c.Places = DefaultPlaces
	}
	return nil
}

// JobInserter inserts River jobs in a transaction; *river.Client[pgx.Tx]
// satisfies it.
type JobInserter interface {
	InsertManyTx(ctx context.Context, tx pgx.Tx, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error)
}

// Service is the photo pipeline.
type Service struct {
	cfg       Config
	pool      *pgxpool.Pool
	jobs      JobInserter
	log       *slog.Logger
	originals *Originals
	thumbs    string
	thumbSem  chan struct{}
	// decodeBudget bounds the memory of decoded images (DecodeBudget).
	decodeBudget *decodeBudget
	// commits takes ingests ready for their rows to the committer (batch.go).
	commits chan *commitItem
	photos  *photoWriter
	uploads *Uploads
	// pipelined counts the files of upload requests received and not yet
	// done (Pipeline), across requests.
	pipelined atomic.Int64
}

// New returns the service, creating the data directories. jobs may be nil
// (no thumbnail jobs are queued; thumbnails are then made on first request).
func New(cfg Config, pool *pgxpool.Pool, jobs JobInserter, logger *slog.Logger) (*Service, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	o, err := NewOriginals(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, pool: pool, jobs: jobs, log: logger, originals: o,
		thumbs: filepath.Join(cfg.DataDir, "thumbnails"), thumbSem: make(chan struct{}, 2),
		decodeBudget: newDecodeBudget(cfg.DecodeBudget),
		commits:      make(chan *commitItem), photos: newPhotoWriter()}
	if s.uploads, err = newUploads(s); err != nil {
		return nil, err
	}
	for range committers {
		go s.commitLoop()
	}
	// Build the time zone finder (it takes a while and some memory) now, in
	// the background, rather than inside the first upload that needs it.
	go func() { _, _ = zoneFinder() }()
	return s, nil
}

// Uploads is the resumable (tus) upload service.
func (s *Service) Uploads() *Uploads { return s.uploads }

// Config returns the effective configuration.
func (s *Service) Config() Config { return s.cfg }

// Photo is a stored photo as the API shows it. Its db tags name the
// columns of photoSelect it is scanned from.
type Photo struct {
	ID               int64           `json:"id" db:"document_id"`
	SHA256           string          `json:"sha256" db:"sha256"`
	Size             int64           `json:"size" db:"size_bytes"`
	Mime             string          `json:"mime" db:"mime"`
	OriginalName     string          `json:"original_name" db:"original_name"`
	Title            string          `json:"title" db:"title"`
	Width            *int            `json:"width" db:"width"`
	Height           *int            `json:"height" db:"height"`
	TakenAt          *time.Time      `json:"taken_at" db:"taken_at"`
	TakenLocal       *string         `json:"taken_local" db:"taken_local"`
	UTCOffsetMinutes *int            `json:"utc_offset_minutes" db:"utc_offset_minutes"`
	TZSource         string          `json:"tz_source" db:"tz_source"`
	TZName           *string         `json:"tz_name" db:"tz_name"`
	CameraMake       *string         `json:"camera_make" db:"camera_make"`
	CameraModel      *string         `json:"camera_model" db:"camera_model"`
	Lens             *string         `json:"lens" db:"lens"`
	Orientation      *int            `json:"orientation" db:"orientation"`
	Lat              *float64        `json:"lat" db:"lat"`
	Lon              *float64        `json:"lon" db:"lon"`
	AltM             *float64        `json:"alt_m" db:"alt_m"`
	ImgDirection     *float64        `json:"img_direction" db:"img_direction"`
	GPSRefMissing    bool            `json:"gps_ref_missing" db:"gps_ref_missing"`
	EXIFError        *string         `json:"exif_error" db:"exif_error"`
	PHash            *string         `json:"phash" db:"phash"`
	Place            *Place          `json:"place" db:"-"` // from photoRead.PlaceJSON
	Geometry         json.RawMessage `json:"geometry" db:"geometry"`
	EXIF             json.RawMessage `json:"exif,omitempty" db:"-"` // selected by some queries only (photoEXIFRead)
	CreatedAt        time.Time       `json:"created_at" db:"created_at"`
	StorageKey       string          `json:"-" db:"storage_key"`
}

// photoSelect are the columns of a Photo, named as its db tags say.
const photoSelect = `
p.document_id, encode(p.sha256, 'hex') AS sha256, p.size_bytes, p.mime, p.original_name, d.title,
p.width, p.height, p.taken_at, to_char(p.taken_local, 'YYYY-MM-DD"T"HH24:MI:SS') AS taken_local,
p.utc_offset_minutes, p.tz_source, p.tz_name, p.camera_make, p.camera_model, p.lens,
p.orientation, p.lat, p.lon, p.alt_m, p.img_direction, p.gps_ref_missing, p.exif_error,
CASE WHEN p.phash IS NOT NULL THEN lpad(to_hex(p.phash), 16, '0') END AS phash,
d.props -> 'place' AS place, COALESCE(ST_AsGeoJSON(p.geom)::text, 'null') AS geometry,
p.created_at, p.storage_key`

const photoFrom = ` FROM photos p JOIN documents d ON d.id = p.document_id `

// photoRead is a row of photoSelect.
type photoRead struct {
	Photo
	// PlaceJSON is the document's place, kept raw: a place that does not
	// parse (props are the document API's to change) is no place.
	PlaceJSON []byte `db:"place"`
}

// photo returns the row's photo.
func (r *photoRead) photo() *Photo {
	if len(r.PlaceJSON) > 0 && string(r.PlaceJSON) != "null" {
		var pl Place
		if err := json.Unmarshal(r.PlaceJSON, &pl); err == nil && !pl.empty() {
			r.Place = &pl
		}
	}
	return &r.Photo
}

// photoEXIFRead is a row of photoSelect and the photo's EXIF.
type photoEXIFRead struct {
	photoRead
	EXIF json.RawMessage `db:"exif"`
}

func scanPhoto(row pgx.CollectableRow) (*Photo, error) {
	r, err := pgx.RowToAddrOfStructByName[photoRead](row)
	if err != nil {
		return nil, err
	}
	return r.photo(), nil
}

func scanPhotoEXIF(row pgx.CollectableRow) (*Photo, error) {
	r, err := pgx.RowToAddrOfStructByName[photoEXIFRead](row)
	if err != nil {
		return nil, err
	}
	p := r.photo()
	p.EXIF = r.EXIF
	return p, nil
}

// collectPhotos scans rows of photoSelect.
func collectPhotos(rows pgx.Rows) ([]*Photo, error) { return pgx.CollectRows(rows, scanPhoto) }

// Get returns photo id with its full EXIF tag set, or problem.ErrNotFound.
func (s *Service) Get(ctx context.Context, id int64) (*Photo, error) {
	return s.get(ctx, s.pool, id)
}

// get reads photo id through q. Code holding a pooled connection passes it:
// taking a second one from the pool while holding the first deadlocks once
// as many callers as the pool has connections do the same.
func (s *Service) get(ctx context.Context, q document.Querier, id int64) (*Photo, error) {
	rows, err := q.Query(ctx, `SELECT`+photoSelect+`, p.exif::text AS exif`+photoFrom+`WHERE p.document_id = $1`, id)
	if err == nil {
		var p *Photo
		if p, err = pgx.CollectExactlyOneRow(rows, scanPhotoEXIF); err == nil {
			return p, nil
		}
	}
	return nil, photoErr(id, err)
}

// BySHA256 returns the photo with these bytes, or problem.ErrNotFound.
func (s *Service) BySHA256(ctx context.Context, sum []byte) (*Photo, error) {
	return s.bySHA(ctx, s.pool, sum)
}

func (s *Service) bySHA(ctx context.Context, q document.Querier, sum []byte) (*Photo, error) {
	rows, err := q.Query(ctx, `SELECT`+photoSelect+photoFrom+`WHERE p.sha256 = $1`, sum)
	if err == nil {
		var p *Photo
		if p, err = pgx.CollectExactlyOneRow(rows, scanPhoto); err == nil {
			return p, nil
		}
	}
	return nil, fmt.Errorf("ingest: photo by sha256: %w", pg.Interpret(err))
}

// ParseSHA256 reads a hex SHA-256 (64 digits, any case).
func ParseSHA256(s string) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return nil, problem.Invalid("sha256", "want 64 hexadecimal digits")
	}
	return b, nil
}

// shaLockKey is the advisory lock key of a content hash: uploads, deletes and
// the sweeper of the same bytes take it, so a file is never removed while a
// row for it is being committed, in this process or another.
func shaLockKey(sum []byte) int64 { return int64(binary.BigEndian.Uint64(sum[:8])) }

// withSHALock runs fn on a connection holding the session advisory lock of
// sum.
func (s *Service) withSHALock(ctx context.Context, sum []byte, fn func(conn *pgxpool.Conn) error) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("ingest: acquire: %w", err)
	}
	defer conn.Release()
	key := shaLockKey(sum)
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, key); err != nil {
		return fmt.Errorf("ingest: lock: %w", pg.Interpret(err))
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock($1)`, key); err != nil {
			// A connection that cannot unlock must not go back to the pool
			// holding the lock.
			_ = conn.Conn().Close(uctx)
		}
	}()
	return fn(conn)
}

// Ingest stores one photo read from r. name is the client's file name (only
// used as the title and original_name; never as a path). It returns the
// photo and true when it was created, or the existing photo and false when
// the same bytes were ingested before. Errors: problem.ErrUnsupportedMedia
// (nothing stored), problem.ErrTooLarge, or an unexpected error.
func (s *Service) Ingest(ctx context.Context, name string, r io.Reader) (*Photo, bool, error) {
	up, err := s.originals.Receive(r, s.cfg.MaxFileBytes)
	if err != nil {
		return nil, false, err
	}
	return s.ingest(ctx, name, up)
}

// IngestMove stores the local file at path by moving it into the store
// (a rename, no copy) when it is on the store's file system, and by
// uploading a copy otherwise. A file that is not stored (an unsupported
// type, a duplicate of a stored photo, an error) stays where it is.
func (s *Service) IngestMove(ctx context.Context, path string) (*Photo, bool, error) {
	up, err := s.stageFile(path, true)
	if err != nil {
		return nil, false, err
	}
	return s.ingest(ctx, filepath.Base(path), up)
}

// stageFile reads and hashes the local file at path: staged in place when
// move is set and it is on the store's file system (a later commit renames
// it), else copied into the store's staging.
func (s *Service) stageFile(path string, move bool) (staged, error) {
	if move {
		l, err := s.originals.StageLocal(path, s.cfg.MaxFileBytes)
		if err != nil {
			return nil, err
		}
		if l != nil {
			return l, nil
		}
	}
	f, err := openLocal(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return s.originals.Receive(f, s.cfg.MaxFileBytes)
}

// ingest is the pipeline after the bytes are hashed: sniff, read the
// metadata, then hand the photo to a committer, which names its place and,
// under the hash's lock, stores the file and writes the rows (batch.go).
func (s *Service) ingest(ctx context.Context, name string, up staged) (*Photo, bool, error) {
	it, err := s.prepare(name, up)
	if err != nil {
		up.Abort()
		return nil, false, err
	}
	r := s.commit(ctx, it)
	return r.photo, r.created, r.err
}

// prepare sniffs a hashed file and reads its metadata: the CPU work before
// the disk and the database (commit). On error the caller still owns up.
func (s *Service) prepare(name string, up staged) (*commitItem, error) {
	if _, err := Sniff(up.Head()); err != nil {
		return nil, err
	}
	meta, err := ReadMeta(up.File(), up.Size())
	if err != nil {
		return nil, err
	}
	return &commitItem{name: name, up: up, meta: meta, done: make(chan commitResult, 1)}, nil
}

// commit flushes a prepared photo's file to disk, hands the photo to a
// committer and waits for the outcome, then releases its staged file.
func (s *Service) commit(ctx context.Context, it *commitItem) commitResult {
	defer it.up.Abort()
	if err := it.up.Sync(); err != nil {
		return commitResult{err: err}
	}
	it.ctx = ctx
	select {
	case s.commits <- it:
	case <-ctx.Done():
		return commitResult{err: ctx.Err()}
	}
	// Once handed over, wait for the outcome even if ctx ends: the
	// committer may be using up, which the deferred Abort releases.
	return <-it.done
}

// queueJobs queues the thumbnail jobs of new photos and runs AfterInsert,
// in tx.
func (s *Service) queueJobs(ctx context.Context, tx pgx.Tx, ids []int64) error {
	if s.jobs != nil {
		params := make([]river.InsertManyParams, len(ids))
		for i, id := range ids {
			params[i] = river.InsertManyParams{Args: ThumbnailArgs{PhotoID: id}}
		}
		if _, err := s.jobs.InsertManyTx(ctx, tx, params); err != nil {
			return fmt.Errorf("ingest: queue thumbnails: %w", err)
		}
	}
	if s.cfg.AfterInsert != nil {
		if err := s.cfg.AfterInsert(ctx, tx, ids); err != nil {
			return fmt.Errorf("ingest: after insert: %w", err)
		}
	}
	return nil
}

// photoDocument is the photo's document: searchable title, body, tags and
// props, and the period it was taken in.
func photoDocument(name string, sum []byte, m *Meta, place Place, taken Taken, hasTime bool) *document.Doc {
	title := titleFrom(name)
	if title == "" {
		title = hex.EncodeToString(sum[:6])
	}
	camera := strings.TrimSpace(cameraName(m.Make, m.Model))
	var body []string
	if w := place.Words(); w != "" {
		body = append(body, w+".")
	}
	if camera != "" {
		body = append(body, camera+".")
	}
	if m.Lens != "" {
		body = append(body, m.Lens+".")
	}
	tags := []string{"photo", strings.TrimPrefix(Ext(m.Mime), ".")}
	if m.HasGPS() {
		tags = append(tags, "geotagged")
	}
	props := map[string]any{
		"sha256":    hex.EncodeToString(sum),
		"mime":      m.Mime,
		"tz_source": TZUnknown,
	}
	if m.Width > 0 && m.Height > 0 {
		props["width"], props["height"] = m.Width, m.Height
	}
	if camera != "" {
		props["camera"] = map[string]any{"make": m.Make, "model": m.Model}
	}
	if m.Lens != "" {
		props["lens"] = m.Lens
	}
	if !place.empty() {
		props["place"] = place
	}
	d := &document.Doc{Collection: Collection, Title: title, Body: strings.Join(body, " "), Tags: tags, Props: props}
	if m.HasGPS() {
		// The same point as the generated photos.geom, written with the
		// document so the sync trigger (migration 00012) finds nothing to
		// update.
		d.Geometry = geom.NewPointFlat(geom.XY, []float64{*m.Lon, *m.Lat}).SetSRID(4326)
	}
	if hasTime {
		props["tz_source"] = taken.Source
		props["taken_local"] = taken.Local.Format("2006-01-02T15:04:05")
		if taken.At != nil {
			d.Period = document.Instant(taken.At.UTC())
		} else {
			// Unknown offset: the instant lies within ±14 h of the wall clock.
			lo, hi := taken.Local.Add(-14*time.Hour), taken.Local.Add(14*time.Hour)
			d.Period = &document.Period{Lower: &lo, Upper: &hi, LowerInc: true, UpperInc: true}
		}
	}
	return d
}

// cameraName joins make and model without repeating the make ("Canon Canon
// EOS 40D" → "Canon EOS 40D").
func cameraName(mk, model string) string {
	if mk != "" && strings.HasPrefix(strings.ToLower(model), strings.ToLower(strings.Fields(mk)[0])) {
		return model
	}
	return strings.TrimSpace(mk + " " + model)
}

// cleanName keeps the last path element of a client's file name, without
// control characters, at most 255 bytes. It is only ever displayed.
func cleanName(name string) string {
	name = strings.ReplaceAll(name, "\\", "/")
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(name, ""))
	if name == "." || name == ".." {
		name = ""
	}
	for len(name) > 255 {
		_, size := lastRune(name)
		name = name[:len(name)-size]
	}
	return strings.TrimSpace(name)
}

func lastRune(s string) (rune, int) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i]&0xC0 != 0x80 {
			return rune(s[i]), len(s) - i
		}
	}
	return 0, 1
}

// titleFrom is the file name without its extension, separators as spaces.
func titleFrom(name string) string {
	n := cleanName(name)
	n = strings.TrimSuffix(n, filepath.Ext(n))
	n = strings.NewReplacer("_", " ", "-", " ").Replace(n)
	return strings.Join(strings.Fields(n), " ")
}

func positive(v int) *int {
	if v <= 0 {
		return nil
	}
	return &v
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Delete removes photo id: its row and document, then its original and
// thumbnails (the file only when no row needs it any more). Returns
// problem.ErrNotFound if there is no such photo.
func (s *Service) Delete(ctx context.Context, id int64) error {
	var sum []byte
	var key string
	if err := s.pool.QueryRow(ctx, `SELECT sha256, storage_key FROM photos WHERE document_id = $1`, id).Scan(&sum, &key); err != nil {
		return photoErr(id, err)
	}
	return s.withSHALock(ctx, sum, func(conn *pgxpool.Conn) error {
		if err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, QueueRemovalSQL, []int64{id}); err != nil {
				return err
			}
			return document.Delete(ctx, tx, Collection, id)
		}); err != nil {
			return fmt.Errorf("ingest: delete photo %d: %w", id, err)
		}
		if _, err := s.removeQueued(ctx, conn, sum, key); err != nil {
			// The row is gone and the removal recorded: the next
			// RemoveQueuedFiles or sweep removes the files.
			s.log.Warn("ingest: original not removed", "key", key, "err", err)
		}
		return nil
	})
}

// Similar is a near duplicate and its Hamming distance.
type Similar struct {
	Distance int    `json:"distance"`
	Photo    *Photo `json:"photo"`
}

// similarRead is a row of SimilarTo.
type similarRead struct {
	photoRead
	Distance int `db:"distance"`
}

// MaxSimilarDistance is the largest max_distance accepted (of 64 bits).
const MaxSimilarDistance = 32

// maxBandRadius is the largest per-band radius looked up through the band
// indexes: 697 values per band at radius 3 (max_distance up to 15). Larger
// distances match so much of any collection that reading every hash is
// cheaper.
const maxBandRadius = 3

// bandNeighbours lists every 16-bit value within r bits of v, v first.
func bandNeighbours(v uint16, r int) []int32 {
	out := []int32{int32(v)}
	var flip func(from int, x uint16, left int)
	flip = func(from int, x uint16, left int) {
		for i := from; i < 16; i++ {
			y := x ^ 1<<i
			out = append(out, int32(y))
			if left > 1 {
				flip(i+1, y, left-1)
			}
		}
	}
	if r > 0 {
		flip(0, v, r)
	}
	return out
}

// SimilarTo lists photos whose perceptual hash is within maxDistance bits of
// photo id's, nearest first. problem.ErrNotFound if the photo does not exist;
// problem.ErrUnavailable while its hash is not computed yet.
func (s *Service) SimilarTo(ctx context.Context, id int64, maxDistance, limit int) ([]Similar, error) {
	var ph *int64
	if err := s.pool.QueryRow(ctx, `SELECT phash FROM photos WHERE document_id = $1`, id).Scan(&ph); err != nil {
		return nil, photoErr(id, err)
	}
	if ph == nil {
		return nil, fmt.Errorf("%w: the perceptual hash of photo %d is not computed yet", problem.ErrUnavailable, id)
	}
	sql := `SELECT` + photoSelect + `, bit_count((p.phash # $2)::bit(64))::int AS distance` + photoFrom + `
WHERE p.phash IS NOT NULL AND p.document_id <> $1 AND bit_count((p.phash # $2)::bit(64)) <= $3`
	args := []any{id, *ph, maxDistance, limit}
	if r := maxDistance / 4; r <= maxBandRadius {
		// Multi-index hashing (migration 00013): only photos with a band
		// within r bits of this one's are candidates.
		sql += ` AND (p.phash_b0 = ANY($5) OR p.phash_b1 = ANY($6) OR p.phash_b2 = ANY($7) OR p.phash_b3 = ANY($8))`
		for band := range 4 {
			args = append(args, bandNeighbours(uint16(uint64(*ph)>>(48-16*band)), r))
		}
	}
	rows, err := s.pool.Query(ctx, sql+`
ORDER BY distance, p.document_id LIMIT $4`, args...)
	if err != nil {
		return nil, fmt.Errorf("ingest: similar: %w", pg.Interpret(err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Similar, error) {
		r, err := pgx.RowToAddrOfStructByName[similarRead](row)
		if err != nil {
			return Similar{}, err
		}
		return Similar{Distance: r.Distance, Photo: r.photo()}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("ingest: similar: %w", pg.Interpret(err))
	}
	return out, nil
}

// Original opens photo id's original file.
func (s *Service) Original(ctx context.Context, id int64) (*Photo, io.ReadSeekCloser, error) {
	p, err := s.Get(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	f, err := s.originals.Open(p.StorageKey)
	if err != nil {
		return nil, nil, err
	}
	return p, f, nil
}

// photoErr wraps an error reading photo id; no row is problem.ErrNotFound
// with a detail naming the photo.
func photoErr(id int64, err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return problem.Translate(problem.ErrNotFound, fmt.Sprintf("there is no photo %d", id), err)
	}
	return fmt.Errorf("ingest: photo %d: %w", id, pg.Interpret(err))
}
