package ingest

import (
	"bytes"
	"io"
	"testing"
)

// pieces yields at most 4 KiB per read, as a multipart part does.
type pieces struct{ r io.Reader }

func (p pieces) Read(b []byte) (int, error) { return p.r.Read(b[:min(len(b), 4096)]) }

func TestGatheredFillsWhileBytesWait(t *testing.T) {
	data := bytes.Repeat([]byte("x"), 300<<10)
	src := bytes.NewReader(data)
	g := &Gathered{R: pieces{src}, Pending: func() int { return src.Len() }}
	buf := make([]byte, 128<<10)
	n, err := g.Read(buf)
	if err != nil || n != len(buf) {
		t.Fatalf("with bytes waiting: read %d, %v; want a full buffer", n, err)
	}

	// Nothing waiting: one piece, at once (a slow client's bytes are not
	// held back for more).
	src = bytes.NewReader(data)
	g = &Gathered{R: pieces{src}, Pending: func() int { return 0 }}
	if n, err := g.Read(buf); err != nil || n != 4096 {
		t.Fatalf("with nothing waiting: read %d, %v; want one piece of 4096", n, err)
	}

	// Everything arrives, in order, to the end.
	src = bytes.NewReader(data)
	g = &Gathered{R: pieces{src}, Pending: func() int { return src.Len() }}
	got, err := io.ReadAll(g)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("ReadAll: %d bytes, %v", len(got), err)
	}
}
