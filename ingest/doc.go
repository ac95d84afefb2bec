// Package ingest is geoseek's photo pipeline: every way into geoseek (HTTP
// upload, the `geoseek ingest` command, bulk clients) goes through it.
//
// A photo is streamed once to a temporary file in the originals directory
// while its SHA-256 is computed; the media type is sniffed from its first
// bytes (JPEG, TIFF, HEIC/HEIF/AVIF, PNG, WebP; anything else is
// problem.ErrUnsupportedMedia). Metadata is then read from that file by
// walking the container's structure and reading only the few segments it
// needs: the EXIF block (at most MaxEXIFBytes) and the pixel dimensions.
//
// EXIF is decoded with github.com/rwcarlsen/goexif, which trusts its input:
// integer overflows in tag sizes, IFD cycles and unchecked slices in it can
// exhaust memory, loop forever or panic. So goexif never sees raw bytes: the
// EXIF block is located here (all JPEG APP1 segments, HEIC's Exif item via
// iinf/iloc, PNG eXIf or raw-profile text, WebP EXIF, a TIFF file's own IFDs)
// and rebuilt by rebuildTIFF into a fresh, compact TIFF holding IFD0 and its
// Exif/GPS/Interop sub-IFDs, keeping only entries whose type, count and value
// are sound, following each IFD once. goexif then runs under recover with a
// time bound, and every value taken from it is checked (finite, in range,
// non-zero denominators). A photo whose EXIF cannot be read is still stored;
// the reason is kept in photos.exif_error.
//
// The original is content-addressed (<data dir>/originals/ab/<sha256>):
// written to a temp file in that tree, fsynced, renamed, the directory fsynced,
// and only then the photos row and its document commit in one transaction. A
// crash therefore leaves at worst a file without a row, which the sweeper
// (at start-up, then every SweepInterval) adopts (re-ingests) or removes. Equal bytes give one photo: an
// advisory lock on the hash, held by the row's transaction, makes a
// concurrent upload of the same bytes wait and then answer with the
// existing photo.
//
// `geoseek ingest --move` hashes a local file in place and renames it into
// the store instead of copying it (same file system only, else it copies):
// no bytes are written, which matters because a durable copy is bounded by
// the disk's write speed. Files not stored stay where they were; a row that
// fails to commit puts the file back.
//
// Each photo is a document of the `photos` collection (document), so
// search and GeoJSON serve it like any document: its title is the file name,
// its body the place names (offline reverse geocoding with Natural Earth data,
// github.com/sams96/rgeo) and the camera, its period the instant it was taken.
//
// Thumbnails and the 64-bit perceptual hash (dHash) are made by a River job
// queued in the upload's transaction; decoding is guarded by DecodeConfig, a
// pixel limit and a memory budget shared by every decode (the header's
// width × height × bytes per pixel), since a few hundred bytes of JPEG can
// declare 60000×60000 and a 760 KB PNG can decode to 800 MB.
//
// Bulk clients check hashes first (Service.Check, POST /photos/check) and
// send files as resumable tus uploads (uploads.go), stored by the same
// pipeline when their last byte arrives.
package ingest
