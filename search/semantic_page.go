package search

// A page of mode=semantic in one round trip. The kNN statement of the
// chosen plan and the fetch of the page's documents are one statement (the
// kNN as a subquery with its LIMIT, so the planner plans it exactly as on
// its own), sent after the plan's settings in one batch. Fetching the
// ranked ids first and the documents second cost a second round trip and a
// second statement per page, a large share of the server's time per
// request (docs/performance.md, "Filtered kNN plans").
//
// Hybrid search still ranks first and fetches by id (rankedPage): its list
// is fused in Go from two rankings.

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/geoseek/geoseek/internal/pg"
)

// unembeddedSQL counts, up to UnembeddedCountLimit, the documents of a
// collection that have no vector: semantic search cannot find them (they
// wait for the embedding sweep, or their text cannot be embedded). Served by
// the partial index documents_embedding_missing_idx.
const unembeddedSQL = `SELECT count(*) FROM (SELECT 1 FROM documents WHERE collection_id = $1 AND embedding IS NULL LIMIT $2) x`

// UnembeddedCountLimit bounds Result.Unembedded: the count reads one index
// entry per document on every semantic or hybrid query, so it stops early
// (docs/performance.md); /readyz counts further (embed.BacklogCountLimit).
const UnembeddedCountLimit = 1000

// semanticPage is mode=semantic for the page after offset hits, the kNN
// list reaching depth (offset + limit + 1, or MaxSemanticDepth).
func (s *Service) semanticPage(ctx context.Context, sem *Semantic, p *Plan, offset, depth int) (*Result, error) {
	q := p.Q
	// The matched set of a nearest-neighbour query is every filtered
	// document that has a vector.
	facets := s.startFacets(ctx, p, func(a *Args) string { return p.Where(a) + " AND d.embedding IS NOT NULL" })
	defer facets.cancel()
	k, plan, err := sem.prepareKNN(ctx, q, depth, knownCollection(p))
	if err != nil {
		return nil, err
	}
	strategy, err := sem.choose(ctx, k, &plan)
	if err != nil {
		return nil, err
	}
	var page semanticRowsResult
	err = runWithFallback(k, strategy, &plan, func(strategy string) (found, ef int, err error) {
		page, err = s.semanticRows(ctx, sem, p, k, strategy, offset)
		return offset + len(page.hits), page.ef, err
	})
	if err != nil {
		return nil, err
	}
	// A hit's score is its rank's, so both lists keep the same entries.
	hits := keepSimilar(page.hits, hitScore, q.MinSimilarity)
	ranks := keepSimilar(page.ranks, rankedScore, q.MinSimilarity)
	res := &Result{Collection: q.Collection, Mode: q.Mode, Hits: []Hit{}, Unembedded: &page.unembedded}
	if len(hits) > q.Limit {
		end := offset + q.Limit
		if end < MaxSemanticDepth {
			res.NextCursor = encodeCursor(s.secret, cursor{Hash: q.hash(), Key: json.RawMessage("null"), ID: hits[q.Limit-1].ID, Seen: end})
		}
		hits, ranks = hits[:q.Limit], ranks[:q.Limit]
	}
	if len(hits) > 0 {
		res.Hits = hits
	}
	if q.Explain {
		for i := range res.Hits {
			res.Hits[i].Explain = mustJSON(map[string]any{"semantic": ranks[i], "plan": plan})
		}
	}
	if err := facets.wait(res); err != nil {
		return nil, err
	}
	return res, nil
}

// semanticRowsResult is the kNN list past offset, with its documents.
type semanticRowsResult struct {
	hits  []Hit
	ranks []Ranked
	ef    int
	// unembedded counts the collection's documents without a vector.
	unembedded int64
}

// semanticRows runs k under strategy and returns the hits ranked after
// offset (up to k.Depth in all) with their documents, best first.
func (s *Service) semanticRows(ctx context.Context, sem *Semantic, p *Plan, k KNN, strategy string, offset int) (semanticRowsResult, error) {
	sql, args := semanticPageSQL(p, k, strategy, offset)
	if s.trace != nil {
		s.trace(sql, args)
	}
	out := semanticRowsResult{hits: make([]Hit, 0, k.Depth-offset), ranks: make([]Ranked, 0, k.Depth-offset)}
	// The backlog count rides in the same batch: no extra round trip.
	count := func(b *pgx.Batch) {
		b.Queue(unembeddedSQL, p.CollectionID, UnembeddedCountLimit).QueryRow(func(row pgx.Row) error {
			return row.Scan(&out.unembedded)
		})
	}
	ef, err := sem.exec(ctx, k, strategy, sql, args, count, func(rows pgx.Rows) error {
		for rows.Next() {
			h, dist, err := scanSemanticHit(rows)
			if err != nil {
				return err
			}
			if math.IsNaN(dist) {
				continue // a stored zero vector has no direction; NaN sorts last
			}
			out.hits = append(out.hits, h)
			out.ranks = append(out.ranks, Ranked{ID: h.ID, Rank: offset + len(out.ranks) + 1, Score: *h.Score})
		}
		return rows.Err()
	})
	if err != nil {
		return out, err
	}
	out.ef = ef
	return out, nil
}

// semanticPageSQL wraps k's kNN statement: its rows after offset joined
// with their documents, in (distance, id) order. The kNN is a subquery
// with a LIMIT, which the planner plans on its own, exactly as it plans the
// bare kNN statement. Zero vectors (distance NaN) sort last and are dropped
// by semanticRows, which also numbers the ranks: a window function and a
// materialized CTE for them cost the server more planning and execution
// per query (docs/performance.md). The columns are the ones
// scanSemanticHit reads.
func semanticPageSQL(p *Plan, k KNN, strategy string, offset int) (string, []any) {
	a := &Args{}
	knn := semanticSQL(a, k, strategy)
	dist := "NULL::float8"
	if p.Q.Point != nil {
		dist = "ST_Distance(d.geom::geography, " + p.point(a) + "::geography)"
	}
	sql := "SELECT d.id, d.external_id, d.title, d.lang::text, d.tags, d.props::text," +
		" CASE WHEN isfinite(lower(d.period)) THEN lower(d.period) END, CASE WHEN isfinite(upper(d.period)) THEN upper(d.period) END," +
		" lower_inc(d.period), upper_inc(d.period), d.period IS NOT NULL AND NOT isempty(d.period)," +
		" ST_AsGeoJSON(d.geom)::text, d.created_at, d.updated_at, knn.distance, " + dist + "\n" +
		"FROM (" + knn + ") knn JOIN documents d ON d.id = knn.id\nORDER BY knn.distance, knn.id"
	if offset > 0 {
		sql += " OFFSET " + a.Add(offset) + "::int"
	}
	return sql, a.Values()
}

// scanSemanticHit reads one row of semanticPageSQL: the hit as every
// search mode returns it (see hydrate) and its cosine distance.
func scanSemanticHit(rows pgx.Rows) (Hit, float64, error) {
	var (
		h                  Hit
		props, geo         *string
		lo, up             *time.Time
		loInc, upInc, hasP *bool
		dist               float64
	)
	if err := rows.Scan(&h.ID, &h.ExternalID, &h.Title, &h.Lang, &h.Tags, &props, &lo, &up, &loInc, &upInc, &hasP,
		&geo, &h.CreatedAt, &h.UpdatedAt, &dist, &h.DistanceM); err != nil {
		return h, 0, fmt.Errorf("search: scan: %w", pg.Interpret(err))
	}
	score := 1 - dist
	h.Score = &score
	h.fill(props, geo, lo, up, loInc, upInc, hasP)
	return h, dist, nil
}

func hitScore(h *Hit) float64 { return *h.Score }
