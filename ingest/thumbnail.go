package ingest

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	_ "image/png" // decoders for thumbnails
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/riverqueue/river"
	"golang.org/x/image/draw"
	_ "golang.org/x/image/tiff"
	_ "golang.org/x/image/webp"
	"golang.org/x/sync/semaphore"

	"github.com/geoseek/geoseek/internal/pg"
	"github.com/geoseek/geoseek/internal/problem"
)

// ThumbSizes are the thumbnail sizes served (the longer side, in pixels).
var ThumbSizes = []int{256, 1024}

// ThumbnailArgs is the River job that makes a photo's thumbnails and its
// perceptual hash.
type ThumbnailArgs struct {
	PhotoID int64 `json:"photo_id"`
}

// Kind implements river.JobArgs.
func (ThumbnailArgs) Kind() string { return "geoseek.photo_thumbnails" }

// InsertOpts implements river.JobArgsWithInsertOpts: the "thumbnails" queue
// (internal/jobs), so CPU-heavy decoding has its own worker count.
func (ThumbnailArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: "thumbnails", MaxAttempts: 5}
}

// ThumbnailWorker works ThumbnailArgs jobs.
type ThumbnailWorker struct {
	river.WorkerDefaults[ThumbnailArgs]
	svc *Service
}

// AddWorkers registers ingest's River workers.
func AddWorkers(w *river.Workers, svc *Service) {
	river.AddWorker(w, &ThumbnailWorker{svc: svc})
}

// Timeout implements river.Worker.
func (w *ThumbnailWorker) Timeout(*river.Job[ThumbnailArgs]) time.Duration { return 5 * time.Minute }

// Work implements river.Worker. Photos that cannot be decoded (HEIC, too
// many pixels, corrupt data) are cancelled, not retried: retrying cannot help.
func (w *ThumbnailWorker) Work(ctx context.Context, job *river.Job[ThumbnailArgs]) error {
	err := w.svc.MakeThumbnails(ctx, job.Args.PhotoID)
	switch {
	case errors.Is(err, problem.ErrNotFound): // deleted meanwhile
		return nil
	case errors.Is(err, problem.ErrUnsupportedMedia), errors.Is(err, problem.ErrTooLarge):
		// Including an image that needs more than the whole decode budget.
		w.svc.log.Info("ingest: no thumbnails", "photo", job.Args.PhotoID, "reason", err)
		return river.JobCancel(err)
	}
	return err
}

func (s *Service) thumbPath(sha string, size int) string {
	return filepath.Join(s.thumbs, sha[0:2], sha[2:4], fmt.Sprintf("%s-%d.jpg", sha, size))
}

func (s *Service) removeThumbnails(sum []byte) {
	sha := fmt.Sprintf("%x", sum)
	for _, size := range ThumbSizes {
		_ = os.Remove(s.thumbPath(sha, size))
	}
}

// MakeThumbnails decodes photo id once, writes every thumbnail size (EXIF
// orientation applied) and stores its perceptual hash. It is idempotent.
func (s *Service) MakeThumbnails(ctx context.Context, id int64) error {
	s.thumbSem <- struct{}{}
	defer func() { <-s.thumbSem }()
	p, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	f, err := s.originals.Open(p.StorageKey)
	if err != nil {
		return err
	}
	defer f.Close()
	img, release, err := decodeBounded(ctx, f, s.cfg.MaxPixels, s.decodeBudget)
	if err != nil {
		return err
	}
	defer release()
	orientation := 1
	if p.Orientation != nil {
		orientation = *p.Orientation
	}
	var small image.Image
	src := img
	for i := len(ThumbSizes) - 1; i >= 0; i-- { // largest first, each from the previous
		scaled := scaleDown(src, ThumbSizes[i])
		t := orient(scaled, orientation)
		if err := writeJPEG(s.thumbPath(p.SHA256, ThumbSizes[i]), t); err != nil {
			return err
		}
		src, small = scaled, t
	}
	h := DHash(small)
	tag, err := s.pool.Exec(ctx, `UPDATE photos SET phash = $2 WHERE document_id = $1`, id, int64(h))
	if err != nil {
		return fmt.Errorf("ingest: store phash: %w", err)
	}
	if tag.RowsAffected() == 0 {
		// Deleted while we worked: do not leave its thumbnails behind.
		sum, _ := hex.DecodeString(p.SHA256)
		s.removeThumbnails(sum)
		return fmt.Errorf("ingest: photo %d: %w", id, problem.ErrNotFound)
	}
	return nil
}

// Thumbnail returns the path of photo id's thumbnail of the given size,
// making it now if the job has not run yet.
func (s *Service) Thumbnail(ctx context.Context, id int64, size int) (string, error) {
	ok := false
	for _, t := range ThumbSizes {
		ok = ok || t == size
	}
	if !ok {
		return "", problem.Invalid("size", "want one of %v", ThumbSizes)
	}
	var sha []byte
	if err := s.pool.QueryRow(ctx, `SELECT sha256 FROM photos WHERE document_id = $1`, id).Scan(&sha); err != nil {
		return "", fmt.Errorf("ingest: photo %d: %w", id, pg.Interpret(err))
	}
	path := s.thumbPath(fmt.Sprintf("%x", sha), size)
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if err := s.MakeThumbnails(ctx, id); err != nil {
		return "", err
	}
	return path, nil
}

// decodeBounded decodes an image after checking its declared size: a few
// hundred bytes of JPEG can declare 60000×60000 and make Decode allocate
// gigabytes. The memory the decoded pixels take (decodeBytes, from the
// header) is taken from budget first, waiting while other decodes hold it
// (until ctx ends); an image that needs more than the whole budget is
// refused. release gives the memory back once the image is no longer used.
func decodeBounded(ctx context.Context, r io.ReadSeeker, maxPixels int64, budget *decodeBudget) (img image.Image, release func(), err error) {
	cfg, format, err := image.DecodeConfig(r)
	if err != nil {
		if errors.Is(err, image.ErrFormat) {
			return nil, nil, fmt.Errorf("%w: no thumbnail decoder for this format", problem.ErrUnsupportedMedia)
		}
		return nil, nil, fmt.Errorf("%w: undecodable image: %v", problem.ErrUnsupportedMedia, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > maxPixels {
		return nil, nil, fmt.Errorf("%w: %dx%d %s image exceeds the %d-pixel decode limit", problem.ErrTooLarge, cfg.Width, cfg.Height, format, maxPixels)
	}
	need := decodeBytes(cfg)
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, nil, err
	}
	need *= decodeFactor(r, format)
	if need > budget.total {
		return nil, nil, fmt.Errorf("%w: decoding this %dx%d %s image takes %d MB, more than the %d MB decode budget",
			problem.ErrTooLarge, cfg.Width, cfg.Height, format, need>>20, budget.total>>20)
	}
	if err := budget.sem.Acquire(ctx, need); err != nil {
		return nil, nil, fmt.Errorf("ingest: waiting for %d MB of decode budget: %w", need>>20, err)
	}
	release = func() { budget.sem.Release(need) }
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		release()
		return nil, nil, err
	}
	img, _, err = image.Decode(r)
	if err != nil {
		release()
		return nil, nil, fmt.Errorf("%w: undecodable image: %v", problem.ErrUnsupportedMedia, err)
	}
	return img, release, nil
}

// decodeBudget is the memory that decoded images may take at once, across
// every concurrent thumbnail job and request.
type decodeBudget struct {
	sem   *semaphore.Weighted
	total int64
}

func newDecodeBudget(total int64) *decodeBudget {
	return &decodeBudget{sem: semaphore.NewWeighted(total), total: total}
}

// decodeBytes is the memory the decoded pixels of an image with this
// header take: width × height × the bytes per pixel of the image type its
// decoder returns for the color model (a 16-bit RGBA PNG: 8).
func decodeBytes(cfg image.Config) int64 {
	bpp := int64(8) // unknown models: the widest the standard decoders return
	switch cfg.ColorModel {
	case color.GrayModel, color.AlphaModel:
		bpp = 1
	case color.Gray16Model, color.Alpha16Model:
		bpp = 2
	case color.YCbCrModel:
		bpp = 3 // 4:4:4, the largest JPEG subsampling
	case color.NYCbCrAModel, color.RGBAModel, color.NRGBAModel, color.CMYKModel:
		bpp = 4
	case color.RGBA64Model, color.NRGBA64Model:
		bpp = 8
	}
	if _, ok := cfg.ColorModel.(color.Palette); ok {
		bpp = 1
	}
	return int64(cfg.Width) * int64(cfg.Height) * bpp
}

// decodeFactor is how many times the decoded pixels' memory the decoder
// holds at its peak, read from the headers at r: an interlaced PNG is
// decoded pass by pass into images as large again as the result; a
// progressive JPEG keeps every block's coefficients (four bytes each, per
// component) besides the pixels, five times the pixels' 4:4:4 size.
func decodeFactor(r io.Reader, format string) int64 {
	switch format {
	case "png":
		var h [29]byte // signature, IHDR length and type, 13 bytes of IHDR
		if _, err := io.ReadFull(r, h[:]); err == nil && h[28] != 0 {
			return 2
		}
	case "jpeg":
		if jpegProgressive(r) {
			return 5
		}
	}
	return 1
}

// jpegProgressive walks a JPEG's segments to its frame header and says
// whether it is progressive (SOF2, SOF6, SOF10, SOF14).
func jpegProgressive(r io.Reader) bool {
	br := bufio.NewReader(r)
	var soi [2]byte
	if _, err := io.ReadFull(br, soi[:]); err != nil || soi != [2]byte{0xFF, 0xD8} {
		return false
	}
	for range 1024 {
		b, err := br.ReadByte()
		if err != nil {
			return false
		}
		if b != 0xFF {
			continue
		}
		m, err := br.ReadByte()
		if err != nil {
			return false
		}
		switch {
		case m == 0xFF || m == 0x00 || (m >= 0xD0 && m <= 0xD7) || m == 0x01:
			continue // fill byte, stuffing or a marker without a length
		case m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC:
			return m == 0xC2 || m == 0xC6 || m == 0xCA || m == 0xCE
		}
		var l [2]byte
		if _, err := io.ReadFull(br, l[:]); err != nil {
			return false
		}
		if _, err := br.Discard(int(l[0])<<8 | int(l[1]) - 2); err != nil {
			return false
		}
	}
	return false
}

// scaleDown fits img within size×size, never enlarging.
func scaleDown(img image.Image, size int) image.Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= size && h <= size {
		return img
	}
	if w >= h {
		w, h = size, max(1, h*size/w)
	} else {
		w, h = max(1, w*size/h), size
	}
	if ycc, ok := img.(*image.YCbCr); ok {
		if k := b.Dx() / w; k >= 2 {
			img = boxShrink(ycc, k)
			b = img.Bounds()
		}
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	// BiLinear widens its kernel with the scale factor, so large reductions
	// average all source pixels instead of aliasing.
	draw.BiLinear.Scale(dst, dst.Bounds(), img, b, draw.Src, nil)
	return dst
}

// boxShrink reduces a decoded JPEG by the integer factor k, averaging luma
// over each k×k block and sampling chroma (already subsampled) at its centre.
// It reads every luma sample once, where BiLinear's widened kernel would read
// each about k² times: 5× faster for a 12-megapixel photo.
func boxShrink(src *image.YCbCr, k int) *image.RGBA {
	b := src.Bounds()
	w, h := b.Dx()/k, b.Dy()/k
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	sums := make([]uint32, w)
	area := uint32(k * k)
	for oy := 0; oy < h; oy++ {
		clear(sums)
		for dy := 0; dy < k; dy++ {
			row := src.Y[src.YOffset(b.Min.X, b.Min.Y+oy*k+dy):]
			for ox := 0; ox < w; ox++ {
				var s uint32
				for _, v := range row[ox*k : ox*k+k] {
					s += uint32(v)
				}
				sums[ox] += s
			}
		}
		cy := b.Min.Y + oy*k + k/2
		out := dst.Pix[oy*dst.Stride:]
		for ox := 0; ox < w; ox++ {
			ci := src.COffset(b.Min.X+ox*k+k/2, cy)
			r, g, bl := color.YCbCrToRGB(uint8(sums[ox]/area), src.Cb[ci], src.Cr[ci])
			out[ox*4], out[ox*4+1], out[ox*4+2], out[ox*4+3] = r, g, bl, 0xff
		}
	}
	return dst
}

// orient applies EXIF orientation o (1–8) so the image displays upright.
func orient(img image.Image, o int) image.Image {
	if o <= 1 || o > 8 {
		return img
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	dw, dh := w, h
	if o >= 5 {
		dw, dh = h, w
	}
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var dx, dy int
			switch o {
			case 2:
				dx, dy = w-1-x, y
			case 3:
				dx, dy = w-1-x, h-1-y
			case 4:
				dx, dy = x, h-1-y
			case 5:
				dx, dy = y, x
			case 6:
				dx, dy = h-1-y, x
			case 7:
				dx, dy = h-1-y, w-1-x
			case 8:
				dx, dy = y, w-1-x
			}
			dst.Set(dx, dy, img.At(b.Min.X+x, b.Min.Y+y))
		}
	}
	return dst
}

func writeJPEG(path string, img image.Image) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("ingest: thumbnail dir: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "thumb-*.tmp")
	if err != nil {
		return fmt.Errorf("ingest: thumbnail: %w", err)
	}
	defer os.Remove(f.Name())
	if err := jpeg.Encode(f, img, &jpeg.Options{Quality: 82}); err != nil {
		f.Close()
		return fmt.Errorf("ingest: encode thumbnail: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("ingest: thumbnail: %w", err)
	}
	// Thumbnails can be remade, so no fsync: a rename is enough to never
	// serve a half-written file.
	return os.Rename(f.Name(), path)
}

// DHash is the 64-bit difference hash of img: the image is reduced to 9×8
// grey pixels and each bit says whether a pixel is brighter than its right
// neighbour. Re-encodes, resizes and small edits change few bits.
func DHash(img image.Image) uint64 {
	g := image.NewGray(image.Rect(0, 0, 9, 8))
	draw.BiLinear.Scale(g, g.Bounds(), img, img.Bounds(), draw.Src, nil)
	var h uint64
	for y := 0; y < 8; y++ {
		for x := 0; x < 8; x++ {
			h <<= 1
			if g.GrayAt(x, y).Y > g.GrayAt(x+1, y).Y {
				h |= 1
			}
		}
	}
	return h
}
