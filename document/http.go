package document

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/geoseek/geoseek/internal/auth"
	"github.com/geoseek/geoseek/internal/httpx"
	"github.com/geoseek/geoseek/internal/pg"
	"github.com/geoseek/geoseek/internal/problem"
)

// MaxDocumentBytes caps one document request body (the body text may be 1 MB).
const MaxDocumentBytes = 4 << 20

// HandlerConfig holds the documents API's limits.
type HandlerConfig struct {
	// Embedders, when set, fills in and checks a new collection's embedder
	// settings (the embed package's Set does: defaults from configuration,
	// a known embedder, a dimension it can produce). It may change in.
	Embedders func(in *CollectionInput) error
	// MaxBulkBytes caps one NDJSON bulk request; 0 means 4 GiB.
	MaxBulkBytes int64
	// BulkTimeout bounds one bulk load (its statements run with this
	// statement_timeout instead of the pool's); 0 means 30 minutes.
	BulkTimeout time.Duration
	// Lifecycle deletes and updates collections; nil: one without jobs
	// or files (deletes are purged within the request).
	Lifecycle *Lifecycle
	// StageDir is where bulk loads stage their bodies (StageFile; the
	// system's temporary directory when empty).
	StageDir string
	// Streams caps the bulk loads one key runs at once; nil: no cap.
	Streams *StreamLimit
}

// Handler serves the documents and collections write API.
type Handler struct {
	pool   *pgxpool.Pool
	logger *slog.Logger
	cfg    HandlerConfig
}

// NewHandler returns the documents API handler.
func NewHandler(pool *pgxpool.Pool, logger *slog.Logger, cfg HandlerConfig) *Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBulkBytes <= 0 {
		cfg.MaxBulkBytes = 4 << 30
	}
	if cfg.BulkTimeout <= 0 {
		cfg.BulkTimeout = 30 * time.Minute
	}
	if cfg.Lifecycle == nil {
		cfg.Lifecycle = NewLifecycle(pool, logger, LifecycleConfig{})
	}
	return &Handler{pool: pool, logger: logger, cfg: cfg}
}

// Register adds the routes. POST .../documents/bulk streams for minutes, so
// the server must list it among its untimed routes.
//
//	POST   /collections                               write  create a collection
//	PATCH  /collections/:collection                   write  title, description, default_lang (admin: embedder, model, dimension)
//	DELETE /collections/:collection                   admin  the collection and everything in it
//	POST   /collections/:collection/documents         write  create (upsert when external_id is given)
//	POST   /collections/:collection/documents/bulk    write  NDJSON bulk load, all or nothing
//	GET    /collections/:collection/documents/:id     read
//	PUT    /collections/:collection/documents/:id     write  full replace
//	PATCH  /collections/:collection/documents/:id     write  partial update (props merge-patched)
//	DELETE /collections/:collection/documents/:id     write
func (h *Handler) Register(r gin.IRouter) {
	w := auth.Require(auth.Write)
	r.POST("/collections", w, h.createCollection)
	r.PATCH("/collections/:collection", w, h.patchCollection)
	r.DELETE("/collections/:collection", auth.Require(auth.Admin), h.deleteCollection)
	r.POST("/collections/:collection/documents", w, h.create)
	r.POST("/collections/:collection/documents/bulk", w, h.cfg.Streams.Middleware(), h.bulk)
	r.GET("/collections/:collection/documents/:id", auth.Require(auth.Read), h.get)
	r.PUT("/collections/:collection/documents/:id", w, h.put)
	r.PATCH("/collections/:collection/documents/:id", w, h.patch)
	r.DELETE("/collections/:collection/documents/:id", w, h.delete)
}

func readJSON(c *gin.Context, limit int64) ([]byte, error) {
	if ct := c.GetHeader("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && mt != "application/merge-patch+json") {
			return nil, fmt.Errorf("want application/json, got %q: %w", ct, problem.ErrUnsupportedMedia)
		}
	}
	return io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, limit))
}

func docID(c *gin.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, problem.Invalid("id", "must be a positive integer")
	}
	return id, nil
}

func (h *Handler) respond(c *gin.Context, status int, d *Doc) {
	d.Collection = c.Param("collection")
	out, err := ToOutput(d)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	c.Header("Location", "/collections/"+d.Collection+"/documents/"+strconv.FormatInt(d.ID, 10))
	c.JSON(status, out)
}

// create inserts a document, or upserts it by external_id: 201 when created,
// 200 when an existing document with that external_id was replaced.
func (h *Handler) create(c *gin.Context) {
	d, err := decodeBody(c)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	ctx := c.Request.Context()
	status := http.StatusCreated
	if d.ExternalID != nil {
		var created bool
		if _, created, err = Upsert(ctx, h.pool, d); err == nil && !created {
			status = http.StatusOK
		}
	} else {
		_, err = Insert(ctx, h.pool, d)
	}
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	h.reload(c, status, d.ID)
}

// decodeBody reads and decodes the request's document JSON.
func decodeBody(c *gin.Context) (*Doc, error) {
	body, err := readJSON(c, MaxDocumentBytes)
	if err != nil {
		return nil, err
	}
	return DecodeJSON(c.Param("collection"), body)
}

// reload answers with the stored document (lang resolved, geometry as stored).
func (h *Handler) reload(c *gin.Context, status int, id int64) {
	d, err := Get(c.Request.Context(), h.pool, c.Param("collection"), id)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	h.respond(c, status, d)
}

func (h *Handler) get(c *gin.Context) {
	id, err := docID(c)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	h.reload(c, http.StatusOK, id)
}

func (h *Handler) put(c *gin.Context) {
	id, err := docID(c)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	d, err := decodeBody(c)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	d.ID = id
	if err := Update(c.Request.Context(), h.pool, d); err != nil {
		httpx.Respond(c, err)
		return
	}
	h.reload(c, http.StatusOK, id)
}

// patch reads the document under a row lock, applies the members present in
// the body (props as an RFC 7396 merge patch) and writes it back, in one
// transaction, so concurrent patches do not lose each other's changes.
func (h *Handler) patch(c *gin.Context) {
	id, err := docID(c)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	body, err := readJSON(c, MaxDocumentBytes)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	coll := c.Param("collection")
	ctx := c.Request.Context()
	err = pgx.BeginFunc(ctx, h.pool, func(tx pgx.Tx) error {
		d, err := GetForUpdate(ctx, tx, coll, id)
		if err != nil {
			return err
		}
		if err := PatchJSON(d, body); err != nil {
			return err
		}
		return Update(ctx, tx, d)
	})
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	h.reload(c, http.StatusOK, id)
}

func (h *Handler) delete(c *gin.Context) {
	id, err := docID(c)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	if err := Delete(c.Request.Context(), h.pool, c.Param("collection"), id); err != nil {
		httpx.Respond(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// bulk loads an NDJSON body; see Bulk.
func (h *Handler) bulk(c *gin.Context) {
	if ct := c.GetHeader("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/x-ndjson" && mt != "application/jsonl" && mt != "application/json") {
			httpx.Respond(c, fmt.Errorf("want application/x-ndjson, got %q: %w", ct, problem.ErrUnsupportedMedia))
			return
		}
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), h.cfg.BulkTimeout)
	defer cancel()
	res, err := BulkStaged(ctx, h.pool, c.Param("collection"), http.MaxBytesReader(c.Writer, c.Request.Body, h.cfg.MaxBulkBytes), h.cfg.BulkTimeout, h.cfg.StageDir)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	c.JSON(http.StatusOK, res)
}

// CollectionInput is the body of POST /collections.
type CollectionInput struct {
	Name           string `json:"name"`
	Title          string `json:"title"`
	Description    string `json:"description"`
	DefaultLang    string `json:"default_lang"`
	Embedder       string `json:"embedder"`
	EmbeddingModel string `json:"embedding_model"`
	EmbeddingDim   *int   `json:"embedding_dim"`
}

// Collection is geoseek's one collection type: the row, as POST and PATCH
// /collections answer it, and what Collections adds for the other domains
// (members not sent).
type Collection struct {
	ID             int64     `json:"id"`
	Name           string    `json:"name"`
	Title          string    `json:"title"`
	Description    string    `json:"description"`
	DefaultLang    string    `json:"default_lang"`
	Embedder       string    `json:"embedder"`
	EmbeddingModel string    `json:"embedding_model"`
	EmbeddingDim   *int      `json:"embedding_dim"`
	CreatedAt      time.Time `json:"created_at"`
	// Reembedding is set by PATCH when the change queued every document
	// for re-embedding.
	Reembedding bool `json:"reembedding,omitempty"`

	// EmbeddingStorage is the vector index's element type, "vector" or
	// "halfvec" (set by Collections and CollectionSettings).
	EmbeddingStorage string `json:"-"`

	// The statistics below are set by Collections' Get, Load and List.

	// Extent is nil when no document has a geometry.
	Extent *Extent `json:"-"`
	// TMin and TMax bound the documents' periods (nil: none or open).
	TMin, TMax *time.Time `json:"-"`
	// PropKeys are the props keys seen in the collection (queryables).
	PropKeys []string `json:"-"`
	// Share is the collection's fraction of the documents table in the
	// planner's statistics (0 when it is not among the most common
	// collections there).
	Share float64 `json:"-"`
	// Rows is the collection's estimated number of documents (Share of
	// the table's reltuples).
	Rows float64 `json:"-"`
}

var collectionName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// CreateCollection validates in and inserts the collection. It returns
// problem.ErrConflict when the name is taken.
func CreateCollection(ctx context.Context, q Querier, in CollectionInput) (*Collection, error) {
	if !collectionName.MatchString(in.Name) {
		return nil, problem.Invalid("name", "1 to 63 characters: lower-case letters, digits, _ and -, starting with a letter or digit")
	}
	if err := checkCollection(ctx, q, &in); err != nil {
		return nil, err
	}
	out := &Collection{}
	err := q.QueryRow(ctx, `INSERT INTO collections (name, title, description, default_lang, embedder, embedding_model, embedding_dim)
		VALUES ($1, $2, $3, $4::regconfig, $5, $6, $7)
		RETURNING id, name, title, description, default_lang::text, embedder, embedding_model, embedding_dim, created_at`,
		in.Name, in.Title, in.Description, in.DefaultLang, in.Embedder, in.EmbeddingModel, in.EmbeddingDim).
		Scan(&out.ID, &out.Name, &out.Title, &out.Description, &out.DefaultLang, &out.Embedder, &out.EmbeddingModel, &out.EmbeddingDim, &out.CreatedAt)
	if err != nil {
		if pg.Code(err) == pg.UniqueViolation {
			return nil, fmt.Errorf("collection %q exists: %w", in.Name, problem.ErrConflict)
		}
		return nil, interpret("create collection", err)
	}
	return out, nil
}

// checkCollection validates in's settings (all but the name) and fills in
// the defaults of an empty language and embedder.
func checkCollection(ctx context.Context, q Querier, in *CollectionInput) error {
	if len(in.Title) > 1024 {
		return problem.Invalid("title", "at most 1 KiB")
	}
	if len(in.Description) > 64<<10 {
		return problem.Invalid("description", "at most 64 KiB")
	}
	if in.DefaultLang == "" {
		in.DefaultLang = "simple"
	}
	if in.Embedder == "" {
		in.Embedder = "offline"
	}
	if len(in.Embedder) > 64 {
		return problem.Invalid("embedder", "at most 64 bytes")
	}
	if len(in.EmbeddingModel) > 256 {
		return problem.Invalid("embedding_model", "at most 256 bytes")
	}
	if err := checkEmbeddingDim(in); err != nil {
		return err
	}
	var known bool
	if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = $1)`, in.DefaultLang).Scan(&known); err != nil {
		return fmt.Errorf("document: check language: %w", pg.Interpret(err))
	}
	if !known {
		return problem.Invalid("default_lang", "unknown text search configuration %q (e.g. english, german, simple)", in.DefaultLang)
	}
	return nil
}

// checkEmbeddingDim refuses a dimension out of range. It runs before the
// embedder settings are completed, so that the error names the member at
// fault rather than the embedder the defaults would pick.
func checkEmbeddingDim(in *CollectionInput) error {
	if in.EmbeddingDim != nil && (*in.EmbeddingDim < 1 || *in.EmbeddingDim > 16000) {
		return problem.Invalid("embedding_dim", "must be within 1..16000, got %d", *in.EmbeddingDim)
	}
	return nil
}

func (h *Handler) createCollection(c *gin.Context) {
	body, err := readJSON(c, 1<<20)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	var in CollectionInput
	dec := json.NewDecoder(bytesReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		httpx.Respond(c, problem.Invalid("", "invalid collection JSON: %v", err))
		return
	}
	if err := checkEmbeddingDim(&in); err != nil {
		httpx.Respond(c, err)
		return
	}
	if h.cfg.Embedders != nil {
		if err := h.cfg.Embedders(&in); err != nil {
			httpx.Respond(c, err)
			return
		}
	}
	col, err := CreateCollection(c.Request.Context(), h.pool, in)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	c.Header("Location", "/collections/"+col.Name)
	c.JSON(http.StatusCreated, col)
}

// deleteCollection answers 204 when the collection and its rows are gone,
// or 202 when a job is deleting its documents (it is gone for every
// request already).
func (h *Handler) deleteCollection(c *gin.Context) {
	res, err := h.cfg.Lifecycle.DeleteCollection(c.Request.Context(), c.Param("collection"))
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	if res.Done {
		c.Status(http.StatusNoContent)
		return
	}
	c.JSON(http.StatusAccepted, res)
}

// patchCollection changes a collection's settings; changing how its
// vectors are computed discards them all, so it needs the admin scope.
func (h *Handler) patchCollection(c *gin.Context) {
	body, err := readJSON(c, 1<<20)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	var probe CollectionInput
	spec, err := ParseCollectionPatch(body, &probe)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	if k, ok := auth.KeyFrom(c); spec && (!ok || !k.Allows(auth.Admin)) {
		httpx.Respond(c, problem.Wrap(problem.ErrForbidden, "changing embedder, embedding_model or embedding_dim discards every stored vector: it needs an API key with the admin scope"))
		return
	}
	col, err := h.cfg.Lifecycle.UpdateCollection(c.Request.Context(), c.Param("collection"), body, h.cfg.Embedders)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	c.JSON(http.StatusOK, col)
}
