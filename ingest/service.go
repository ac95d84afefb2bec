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
	// MaxPixels is the largest image (width × height) decoded for
	// thumbnails (default 100 megapixels); larger images get none.
	MaxPixels int64
	// Places are the Natural Earth datasets LoadPlaces loads (default
	// DefaultPlaces).
	Places []string
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
	if c.MaxPixels <= 0 {
		c.MaxPixels = 100_000_000
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
	// commits takes ingests ready for their rows to the committer (batch.go).
	commits chan *commitItem
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
		commits: make(chan *commitItem)}
	for range committers {
		go s.commitLoop()
	}
	// Build the time zone finder (~0.7 s, ~30 MB) now, in the background,
	// rather than inside the first upload that needs it.
	go func() { _, _ = zoneFinder() }()
	return s, nil
}

// Config returns the effective configuration.
func (s *Service) Config() Config { return s.cfg }

// Photo is a stored photo as the API shows it.
type Photo struct {
	ID               int64           `json:"id"`
	SHA256           string          `json:"sha256"`
	Size             int64           `json:"size"`
	Mime             string          `json:"mime"`
	OriginalName     string          `json:"original_name"`
	Title            string          `json:"title"`
	Width            *int            `json:"width"`
	Height           *int            `json:"height"`
	TakenAt          *time.Time      `json:"taken_at"`
	TakenLocal       *string         `json:"taken_local"`
	UTCOffsetMinutes *int            `json:"utc_offset_minutes"`
	TZSource         string          `json:"tz_source"`
	TZName           *string         `json:"tz_name"`
	CameraMake       *string         `json:"camera_make"`
	CameraModel      *string         `json:"camera_model"`
	Lens             *string         `json:"lens"`
	Orientation      *int            `json:"orientation"`
	Lat              *float64        `json:"lat"`
	Lon              *float64        `json:"lon"`
	AltM             *float64        `json:"alt_m"`
	ImgDirection     *float64        `json:"img_direction"`
	GPSRefMissing    bool            `json:"gps_ref_missing"`
	EXIFError        *string         `json:"exif_error"`
	PHash            *string         `json:"phash"`
	Place            *Place          `json:"place"`
	Geometry         json.RawMessage `json:"geometry"`
	EXIF             json.RawMessage `json:"exif,omitempty"`
	CreatedAt        time.Time       `json:"created_at"`
	StorageKey       string          `json:"-"`
}

const photoCols = `
p.document_id, encode(p.sha256, 'hex'), p.size_bytes, p.mime, p.original_name, d.title,
p.width, p.height, p.taken_at, to_char(p.taken_local, 'YYYY-MM-DD"T"HH24:MI:SS'),
p.utc_offset_minutes, p.tz_source, p.tz_name, p.camera_make, p.camera_model, p.lens,
p.orientation, p.lat, p.lon, p.alt_m, p.img_direction, p.gps_ref_missing, p.exif_error,
CASE WHEN p.phash IS NOT NULL THEN lpad(to_hex(p.phash), 16, '0') END,
d.props -> 'place', COALESCE(ST_AsGeoJSON(p.geom)::text, 'null'), p.created_at, p.storage_key`

const photoFrom = ` FROM photos p JOIN documents d ON d.id = p.document_id `

func scanPhoto(row pgx.Row, extra ...any) (*Photo, error) {
	var p Photo
	var place []byte
	var geomText string
	dest := []any{&p.ID, &p.SHA256, &p.Size, &p.Mime, &p.OriginalName, &p.Title,
		&p.Width, &p.Height, &p.TakenAt, &p.TakenLocal, &p.UTCOffsetMinutes, &p.TZSource, &p.TZName,
		&p.CameraMake, &p.CameraModel, &p.Lens, &p.Orientation, &p.Lat, &p.Lon, &p.AltM,
		&p.ImgDirection, &p.GPSRefMissing, &p.EXIFError, &p.PHash, &place, &geomText, &p.CreatedAt, &p.StorageKey}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return nil, err
	}
	if len(place) > 0 && string(place) != "null" {
		var pl Place
		if err := json.Unmarshal(place, &pl); err == nil && !pl.empty() {
			p.Place = &pl
		}
	}
	p.Geometry = json.RawMessage(geomText)
	return &p, nil
}

// Get returns photo id with its full EXIF tag set, or problem.ErrNotFound.
func (s *Service) Get(ctx context.Context, id int64) (*Photo, error) {
	return s.get(ctx, s.pool, id)
}

// get reads photo id through q. Code holding a pooled connection passes it:
// taking a second one from the pool while holding the first deadlocks once
// as many callers as the pool has connections do the same.
func (s *Service) get(ctx context.Context, q document.Querier, id int64) (*Photo, error) {
	var exifJSON []byte
	p, err := scanPhoto(q.QueryRow(ctx, `SELECT`+photoCols+`, p.exif::text`+photoFrom+`WHERE p.document_id = $1`, id), &exifJSON)
	if err != nil {
		return nil, fmt.Errorf("ingest: photo %d: %w", id, pg.Interpret(err))
	}
	p.EXIF = exifJSON
	return p, nil
}

// BySHA256 returns the photo with these bytes, or problem.ErrNotFound.
func (s *Service) BySHA256(ctx context.Context, sum []byte) (*Photo, error) {
	return s.bySHA(ctx, s.pool, sum)
}

func (s *Service) bySHA(ctx context.Context, q document.Querier, sum []byte) (*Photo, error) {
	p, err := scanPhoto(q.QueryRow(ctx, `SELECT`+photoCols+photoFrom+`WHERE p.sha256 = $1`, sum))
	if err != nil {
		return nil, fmt.Errorf("ingest: photo by sha256: %w", pg.Interpret(err))
	}
	return p, nil
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

// commitOne stores one photo in its own transaction: under the hash's
// lock, it finds the photo stored before or commits the file and writes the
// rows.
func (s *Service) commitOne(ctx context.Context, it *commitItem) commitResult {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return commitResult{err: fmt.Errorf("ingest: acquire: %w", err)}
	}
	defer conn.Release()
	sum := it.up.Sum()
	var r commitResult
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if p, err := s.lockSHA(ctx, tx, sum); err == nil {
			r.photo = p // stored before, or by a concurrent upload of the same bytes
			return nil
		} else if !errors.Is(err, problem.ErrNotFound) {
			return err
		}
		key, err := it.up.Commit()
		if err != nil {
			return err
		}
		id, err := s.insert(ctx, tx, sum, it.up.Size(), key, it.name, it.meta, it.place)
		if err == nil {
			r.photo, err = s.get(ctx, tx, id)
		}
		if err != nil {
			// No row needs the file (checked above, and the lock is held
			// until the rollback): take it out now rather than leave it to
			// the sweeper. (Should COMMIT itself fail, the file stays and
			// the sweeper adopts it, as after a crash.)
			if rerr := it.up.Undo(key); rerr != nil {
				s.log.Warn("ingest: original of a failed insert not taken back", "key", key, "err", rerr)
			}
			return err
		}
		r.created = true
		return nil
	})
	if err != nil {
		return commitResult{err: err}
	}
	return r
}

// genericPlans, first in a transaction (or a batch, which is one), makes
// its prepared statements run on generic plans. The ingest statements are
// lookups by unique keys, inserts and a GiST probe per point, whose plans do
// not depend on their parameters; custom plans were replanned at every
// execution (PostgreSQL keeps custom plans when the generic one's estimate
// for an array parameter looks dearer) and cost 0.5 ms of PostgreSQL CPU
// per photo, a fifth of its share (pg_stat_statements over the 1,000-photo
// ingest bench: 0.30 ms planning the photo lookups, 0.18 ms the place
// lookup).
const genericPlans = `SELECT set_config('plan_cache_mode', 'force_generic_plan', true)`

// lockSHA takes the transaction-level advisory lock of sum, held to commit,
// and returns the photo with those bytes (problem.ErrNotFound if none). A
// concurrent ingest of the same bytes waits on the lock, then finds the
// photo this transaction commits: both statements go in one round trip, and
// in READ COMMITTED the lookup's snapshot is taken after the lock is granted.
func (s *Service) lockSHA(ctx context.Context, tx pgx.Tx, sum []byte) (*Photo, error) {
	b := &pgx.Batch{}
	b.Queue(genericPlans)
	b.Queue(`SELECT pg_advisory_xact_lock($1)`, shaLockKey(sum))
	b.Queue(`SELECT`+photoCols+photoFrom+`WHERE p.sha256 = $1`, sum)
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	for range 2 {
		if _, err := br.Exec(); err != nil {
			return nil, fmt.Errorf("ingest: lock: %w", pg.Interpret(err))
		}
	}
	p, err := scanPhoto(br.QueryRow())
	if err != nil {
		return nil, fmt.Errorf("ingest: photo by sha256: %w", pg.Interpret(err))
	}
	return p, nil
}

// insert writes the document, the photo row and the jobs of one photo in
// tx and returns the document id.
func (s *Service) insert(ctx context.Context, tx pgx.Tx, sum []byte, size int64, key, name string, m *Meta, place Place) (int64, error) {
	taken, hasTime := resolveTaken(m)
	doc := photoDocument(name, sum, m, place, taken, hasTime)
	row, err := photoRow(sum, size, key, name, m, taken, hasTime)
	if err != nil {
		return 0, err
	}
	id, err := document.Insert(ctx, tx, doc)
	if err != nil {
		return 0, err
	}
	if _, err = tx.Exec(ctx, insertPhoto, append([]any{id}, row...)...); err != nil {
		return 0, fmt.Errorf("ingest: insert photo: %w", pg.Interpret(err))
	}
	if err := s.queueJobs(ctx, tx, []int64{id}); err != nil {
		return 0, err
	}
	return id, nil
}

// photoRow is the photos row of a photo but its document id: insertPhoto's
// parameters from $2 on.
func photoRow(sum []byte, size int64, key, name string, m *Meta, taken Taken, hasTime bool) ([]any, error) {
	exifJSON, err := json.Marshal(m.Tags)
	if err != nil {
		return nil, fmt.Errorf("ingest: exif json: %w", err)
	}
	var takenLocal, takenAt any
	var tzName any
	if hasTime {
		takenLocal = taken.Local.Format("2006-01-02 15:04:05")
		if taken.At != nil {
			takenAt = *taken.At
		}
		if taken.Zone != "" {
			tzName = taken.Zone
		}
	}
	source := TZUnknown
	var offset *int
	if hasTime {
		source, offset = taken.Source, taken.OffsetMinutes
	}
	return []any{sum, size, m.Mime, cleanName(name), key,
		positive(m.Width), positive(m.Height), takenAt, takenLocal, offset, source, tzName,
		nonEmpty(m.Make), nonEmpty(m.Model), nonEmpty(m.Lens), positive(m.Orientation),
		m.Lat, m.Lon, m.AltM, m.ImgDirection, m.GPSRefMissing, string(exifJSON), nonEmpty(m.EXIFError)}, nil
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

const insertPhoto = `
INSERT INTO photos (document_id, sha256, size_bytes, mime, original_name, storage_key,
    width, height, taken_at, taken_local, utc_offset_minutes, tz_source, tz_name,
    camera_make, camera_model, lens, orientation, lat, lon, alt_m, img_direction,
    gps_ref_missing, exif, exif_error)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::timestamp, $11, $12, $13, $14, $15, $16, $17,
    $18, $19, $20, $21, $22, $23::jsonb, $24)`

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
		return fmt.Errorf("ingest: photo %d: %w", id, pg.Interpret(err))
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
		return nil, fmt.Errorf("ingest: photo %d: %w", id, pg.Interpret(err))
	}
	if ph == nil {
		return nil, fmt.Errorf("%w: the perceptual hash of photo %d is not computed yet", problem.ErrUnavailable, id)
	}
	sql := `SELECT` + photoCols + `, bit_count((p.phash # $2)::bit(64))::int AS distance` + photoFrom + `
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
	defer rows.Close()
	out := []Similar{}
	for rows.Next() {
		var d int
		p, err := scanPhoto(rows, &d)
		if err != nil {
			return nil, fmt.Errorf("ingest: similar: %w", err)
		}
		out = append(out, Similar{Distance: d, Photo: p})
	}
	return out, rows.Err()
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
