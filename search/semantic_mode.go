package search

// The semantic and hybrid modes of Service.Search, answered by the
// service's Semantic (Config.Semantic). Semantic search runs its kNN and
// fetches the page's documents in one statement (semanticPage); hybrid
// search computes its fused id list (Hybrid), then fetches the page's
// documents with the keyword mode's hydrate. Hits look the same in every mode (JSON or
// GeoJSON). Paging is by position: the cursor carries how many hits were
// served, and each page recomputes the lists to that depth (at most
// MaxSemanticDepth hits in all).

import (
	"context"
	"encoding/json"
	"fmt"

	embedder "github.com/geoseek/geoseek/embed"
	"github.com/geoseek/geoseek/internal/pg"
	"github.com/geoseek/geoseek/internal/problem"
)

// pageWindow returns the number of hits served before this page and the
// depth the ranked lists must reach (one more than the page, to know
// whether another page follows).
func pageWindow(p *Plan) (offset, depth int, err error) {
	if p.cursor != nil {
		offset = p.cursor.Seen
	}
	if offset >= MaxSemanticDepth {
		return 0, 0, problem.Invalid("cursor", "%s results end at %d hits", p.Q.Mode, MaxSemanticDepth)
	}
	return offset, min(offset+p.Q.Limit+1, MaxSemanticDepth), nil
}

// knownCollection is what the Plan already read of the collection.
func knownCollection(p *Plan) vecCollection {
	return vecCollection{id: p.CollectionID, spec: embedder.Spec{Dim: p.EmbeddingDim}}
}

// rankedHit is one hit of the page in rank order, with its explain payload.
type rankedHit struct {
	id      int64
	score   float64
	explain json.RawMessage
}

// rankedPage fetches the documents of hits (already in rank order) and
// builds the result, with a next cursor when more hits follow (hybrid
// search; semantic search fetches its page with its kNN, semanticPage).
func (s *Service) rankedPage(ctx context.Context, p *Plan, all []rankedHit, offset int) (*Result, error) {
	facets := s.startFacets(ctx, p, p.Where)
	defer facets.cancel()
	return s.rankedPageFacets(ctx, p, all, offset, facets)
}

// rankedPageFacets is rankedPage with its facets already being counted.
func (s *Service) rankedPageFacets(ctx context.Context, p *Plan, all []rankedHit, offset int, facets *pendingFacets) (*Result, error) {
	q := p.Q
	res := &Result{Collection: q.Collection, Mode: q.Mode, Hits: []Hit{}}
	if offset < len(all) {
		end := min(offset+q.Limit, len(all))
		window := all[offset:end]
		a := &Args{}
		ids := make([]int64, len(window))
		scores := make([]float64, len(window))
		for i, h := range window {
			ids[i], scores[i] = h.id, h.score
		}
		ranked := "SELECT u.id, u.score, u.ord AS k, NULL::bigint AS n FROM unnest(" + a.Add(ids) + "::bigint[], " +
			a.Add(scores) + "::float8[]) WITH ORDINALITY AS u(id, score, ord)"
		tsq := ""
		if q.Highlight {
			tsq = p.TSQuery(a)
		}
		hits, _, _, err := s.hydrate(ctx, p, a, ranked, "page.k", tsq, keyScore, true)
		if err != nil {
			return nil, err
		}
		// A document deleted since it was ranked is simply missing.
		byID := make(map[int64]json.RawMessage, len(window))
		for _, h := range window {
			byID[h.id] = h.explain
		}
		for i := range hits {
			hits[i].Explain = byID[hits[i].ID]
		}
		res.Hits = hits
		if len(all) > end && end < MaxSemanticDepth {
			res.NextCursor = encodeCursor(s.secret, cursor{Hash: q.hash(), Key: json.RawMessage("null"), ID: ids[len(ids)-1], Seen: end})
		}
	}
	if err := facets.wait(res); err != nil {
		return nil, err
	}
	return res, nil
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}

// semanticMode is mode=semantic (semanticPage).
func (s *Service) semanticMode(ctx context.Context, p *Plan) (*Result, error) {
	offset, depth, err := pageWindow(p)
	if err != nil {
		return nil, err
	}
	return s.semanticPage(ctx, s.sem, p, offset, depth)
}

// hybridMode is mode=hybrid.
func (s *Service) hybridMode(ctx context.Context, p *Plan) (*Result, error) {
	offset, depth, err := pageWindow(p)
	if err != nil {
		return nil, err
	}
	// The keyword side corrects words the collection's list lacks, as
	// keyword search does (its first pass); the meaning side takes the
	// text as typed.
	if _, err := s.correct(ctx, p, false); err != nil {
		return nil, err
	}
	facets := s.startFacets(ctx, p, p.Where)
	defer facets.cancel()
	fused, plan, err := s.sem.hybrid(ctx, p.Q, HybridDepth(depth), s.keywordRanker(p), knownCollection(p))
	if err != nil {
		return nil, err
	}
	var unembedded *int64
	if p.Q.SemanticRatio > 0 {
		var n int64
		if err := s.pool.QueryRow(ctx, unembeddedSQL, p.CollectionID, UnembeddedCountLimit).Scan(&n); err != nil {
			return nil, fmt.Errorf("search: count documents without a vector: %w", pg.Interpret(err))
		}
		unembedded = &n
	}
	all := make([]rankedHit, len(fused))
	for i, f := range fused {
		all[i] = rankedHit{id: f.ID, score: f.Score}
		if p.Q.Explain {
			all[i].explain = mustJSON(map[string]any{
				"fused": map[string]any{"rank": f.Rank, "score": f.Score}, "keyword": f.Keyword, "semantic": f.Semantic, "plan": plan,
			})
		}
	}
	res, err := s.rankedPageFacets(ctx, p, all, offset, facets)
	if err != nil {
		return nil, err
	}
	res.Unembedded = unembedded
	if p.typo != nil {
		res.Fuzzy, res.Corrections = true, p.typo.fixes
	}
	return res, nil
}

// keywordRanker is the keyword list of hybrid search: KeywordRanked's
// statement (the keyword mode's ranking) run for p.
func (s *Service) keywordRanker(p *Plan) KeywordRanker {
	return func(ctx context.Context, q *Query, depth int) ([]Ranked, error) {
		a := &Args{}
		sql, err := s.KeywordRanked(ctx, p, a, depth)
		if err != nil {
			return nil, err
		}
		rows, err := s.query(ctx, sql, a)
		if err != nil {
			return nil, fmt.Errorf("search: keyword ranking: %w", pg.Interpret(err))
		}
		defer rows.Close()
		var out []Ranked
		for rows.Next() {
			var (
				id    int64
				score float32
			)
			if err := rows.Scan(&id, &score); err != nil {
				return nil, fmt.Errorf("search: keyword ranking: %w", pg.Interpret(err))
			}
			out = append(out, Ranked{ID: id, Rank: len(out) + 1, Score: float64(score)})
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("search: keyword ranking: %w", pg.Interpret(err))
		}
		return out, nil
	}
}
