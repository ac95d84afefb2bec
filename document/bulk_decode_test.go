package document

import (
	"bufio"
	"bytes"
	"os"
	"testing"
)

// BenchmarkBulkDecode measures the Go side of a bulk load per line: NDJSON
// decoding, validation and the COPY row. GEOSEEK_BULK_NDJSON names a file of
// real lines (the search bench corpus); without it a synthetic line is used.
func BenchmarkBulkDecode(b *testing.B) {
	lines := [][]byte{[]byte(`{"external_id":"e1","title":"7-Zip file archiver with a high compression ratio","body":"7-Zip is a file archiver with a high compression ratio. The main features of 7-Zip are: high compression ratio in 7z format with LZMA and LZMA2 compression, supported formats: packing and unpacking 7z, XZ, BZIP2, GZIP, TAR, ZIP and WIM; unpacking only AR, ARJ, CAB, CHM, CPIO, CramFS, DMG, EXT, FAT, GPT, HFS, IHEX, ISO, LZH, LZMA, MBR, MSI, NSIS, NTFS.","tags":["role::program","use::compressing"],"props":{"package":"7zip","section":"utils","priority":"optional","installed_size":5000}}`)}
	if f := os.Getenv("GEOSEEK_BULK_NDJSON"); f != "" {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		lines = bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	}
	s := &ndjsonSource{r: bufio.NewReader(bytes.NewReader(nil)), collection: "c", defLang: "english", langs: map[string]bool{"english": true}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.decode(lines[i%len(lines)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
