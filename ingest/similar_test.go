package ingest

import (
	"context"
	"math/bits"
	"math/rand/v2"
	"sort"
	"testing"
)

func TestBandNeighbours(t *testing.T) {
	for r, want := range []int{1, 17, 137, 697} {
		got := bandNeighbours(0xa5c3, r)
		if len(got) != want {
			t.Errorf("radius %d: %d values, want %d", r, len(got), want)
		}
		seen := map[int32]bool{}
		for _, v := range got {
			if seen[v] || bits.OnesCount16(uint16(v)^0xa5c3) > r {
				t.Errorf("radius %d: %#x repeated or too far", r, v)
			}
			seen[v] = true
		}
	}
}

// TestSimilarToMatchesScan: the band-indexed lookup finds exactly what
// comparing every hash finds, for distances through the indexed radius and
// beyond (where it reads every hash).
func TestSimilarToMatchesScan(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 9))
	// Clusters of near duplicates around 30 random hashes, some of them
	// far from every other hash.
	var hashes []int64
	for range 30 {
		base := rng.Uint64()
		hashes = append(hashes, int64(base))
		for range 40 {
			h := base
			for range rng.IntN(24) {
				h ^= 1 << rng.IntN(64)
			}
			hashes = append(hashes, int64(h))
		}
	}
	rows, err := b.db.Pool.Query(ctx, `
		WITH h AS (SELECT * FROM unnest($1::bigint[]) WITH ORDINALITY AS h(phash, n)),
		     d AS (INSERT INTO documents (collection_id, title)
		           SELECT c.id, 'p' || h.n FROM collections c, h WHERE c.name = 'photos' ORDER BY h.n RETURNING id, title)
		INSERT INTO photos (document_id, sha256, size_bytes, mime, storage_key, phash)
		SELECT d.id, sha256(d.title::bytea), 1, 'image/jpeg', 'k' || d.id, h.phash
		  FROM d JOIN h ON d.title = 'p' || h.n
		RETURNING document_id, phash`, hashes)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[int64]int64{}
	var ids []int64
	for rows.Next() {
		var id, h int64
		if err := rows.Scan(&id, &h); err != nil {
			t.Fatal(err)
		}
		byID[id] = h
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil || len(ids) != len(hashes) {
		t.Fatalf("%d photos (%v)", len(ids), err)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, q := range []int64{ids[0], ids[5], ids[41], ids[500], ids[len(ids)-1]} {
		for _, d := range []int{0, 3, 4, 7, 10, 15, 16, 24} {
			got, err := b.svc.SimilarTo(ctx, q, d, 1000)
			if err != nil {
				t.Fatal(err)
			}
			var want []int64
			for _, id := range ids {
				if id != q && bits.OnesCount64(uint64(byID[id]^byID[q])) <= d {
					want = append(want, id)
				}
			}
			gotIDs := map[int64]int{}
			for _, s := range got {
				gotIDs[s.Photo.ID] = s.Distance
			}
			if len(got) != len(want) {
				t.Errorf("photo %d, distance %d: %d similar, want %d", q, d, len(got), len(want))
				continue
			}
			for _, id := range want {
				dist, ok := gotIDs[id]
				if !ok || dist != bits.OnesCount64(uint64(byID[id]^byID[q])) {
					t.Errorf("photo %d, distance %d: %d missing or wrong distance %d", q, d, id, dist)
				}
			}
		}
	}
}
