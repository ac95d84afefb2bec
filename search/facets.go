package search

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/geoseek/geoseek/internal/pg"
)

// facets counts tag values and props values over the whole matched set (not
// just the page) in one statement and one pass over the matched rows: each
// row contributes one (facet, value) pair per tag and per props value plus
// one pair for the total, a single hash aggregate counts them all (a few
// hundred groups), and each facet's most frequent values are picked from
// those groups. Nothing per row is materialised, so a large matched set does
// not spill to disk. It also sets res.Total. Array values of a props path
// count once per element (lax jsonpath $."key"[*]).
func (s *Service) facets(ctx context.Context, p *Plan, match func(*Args) string, res *Result) error {
	if frac, err := s.facetSample(ctx, p, match); err != nil {
		return err
	} else if frac < 1 {
		total, fc, err := s.facetPass(ctx, p, match, frac)
		if err != nil {
			return err
		}
		if float64(total)/frac > float64(s.facetMax) {
			scaleFacets(total, frac, fc, res)
			return nil
		}
		// The estimate was high: the matched set is small, count it exactly.
	}
	total, fc, err := s.facetPass(ctx, p, match, 1)
	if err != nil {
		return err
	}
	res.Total, res.Facets = &total, fc
	return nil
}

// pendingFacets are the facets of a search (keyword, semantic or hybrid)
// counted while its page is ranked: they read the whole matched set and the
// ranking often does too, so one request's two statements run on two
// connections at once and the answer waits for the longer, not for both in
// turn.
type pendingFacets struct {
	res    *Result
	done   chan error
	cancel context.CancelFunc
	// run counts them at wait instead (no facets asked, or a statement
	// trace, which must see the statements in a fixed order).
	run func(*Result) error
}

// startFacets starts counting p's facets over the matches of match, if p
// asks for them. The caller defers cancel and calls wait with its result.
func (s *Service) startFacets(ctx context.Context, p *Plan, match func(*Args) string) *pendingFacets {
	pf := &pendingFacets{cancel: func() {}}
	if !p.Q.Facets.Any() {
		return pf
	}
	if s.trace != nil {
		pf.run = func(res *Result) error { return s.facets(ctx, p, match, res) }
		return pf
	}
	fctx, cancel := context.WithCancel(ctx)
	pf.res, pf.done = &Result{}, make(chan error, 1)
	go func() { pf.done <- s.facets(fctx, p, match, pf.res) }()
	// Cancel also waits: nothing of the request outlives it.
	pf.cancel = func() {
		cancel()
		if pf.done != nil {
			<-pf.done
			pf.done = nil
		}
	}
	return pf
}

// wait sets res's total and facets once they are counted.
func (pf *pendingFacets) wait(res *Result) error {
	if pf.run != nil {
		return pf.run(res)
	}
	if pf.done == nil {
		return nil
	}
	err := <-pf.done
	pf.done = nil
	if err != nil {
		return err
	}
	res.Total, res.Facets = pf.res.Total, pf.res.Facets
	return nil
}

// facetSample is the fraction of the documents table that facets of the
// matched set of match read: 1 (every match, exact counts) when the
// planner estimates at most facetMax matches, else the fraction whose pages
// hold about facetScan rows.
func (s *Service) facetSample(ctx context.Context, p *Plan, match func(*Args) string) (float64, error) {
	est, err := s.estimateWhere(ctx, p, match)
	if err != nil || est <= float64(s.facetMax) {
		return 1, err
	}
	a := &Args{}
	var rows float64
	if err := s.queryRow(ctx, "SELECT greatest(reltuples, 0)::float8 FROM pg_class WHERE oid = 'documents'::regclass", a, &rows); err != nil {
		return 0, fmt.Errorf("search: facets: table size: %w", pg.Interpret(err))
	}
	if rows <= float64(s.facetScan) {
		return 1, nil
	}
	return float64(s.facetScan) / rows, nil
}

// scaleFacets sets res's total and facets from counts over a sample of
// fraction frac of the table holding n matches: each count divided by
// frac, flagged approximate with the sample's size.
func scaleFacets(n int64, frac float64, fc *FacetCounts, res *Result) {
	scale := func(c int64) int64 { return int64(math.Round(float64(c) / frac)) }
	total := scale(n)
	res.Total = &total
	for i := range fc.Tags {
		fc.Tags[i].Count = scale(fc.Tags[i].Count)
	}
	for _, vs := range fc.Props {
		for i := range vs {
			vs[i].Count = scale(vs[i].Count)
		}
	}
	fc.Approximate, fc.SampleSize = true, n
	res.Facets = fc
}

// facetPass counts the facets of the matched set in one statement over
// the documents table, or over a block sample of fraction frac of it
// (TABLESAMPLE SYSTEM, the same pages for every query while the table does
// not change), and returns the number of matches it saw and their counts.
func (s *Service) facetPass(ctx context.Context, p *Plan, match func(*Args) string, frac float64) (int64, *FacetCounts, error) {
	a := &Args{}
	from := "documents d"
	if frac < 1 {
		from = "documents d TABLESAMPLE SYSTEM (" + a.Add(frac*100) + "::float8) REPEATABLE (0)"
	}
	where := match(a)
	lim := a.Add(p.Q.Facets.Limit) + "::int"
	pairs := []string{"SELECT -1, NULL::text, NULL::jsonb"}
	cols := []string{"coalesce((SELECT c.n FROM c WHERE c.f = -1), 0)"}
	agg := func(f, val string) string {
		return "(SELECT coalesce(json_agg(json_build_object('value', t.v, 'count', t.n) ORDER BY t.n DESC, t.v), '[]')::text FROM (" +
			"SELECT c." + val + " AS v, c.n FROM c WHERE c.f = " + f + " ORDER BY c.n DESC, c." + val + " LIMIT " + lim + ") t)"
	}
	if p.Q.Facets.Tags {
		pairs = append(pairs, "SELECT 0, x, NULL FROM unnest(d.tags) AS x")
		cols = append(cols, agg("0", "t"))
	}
	for i, path := range p.Q.Facets.Props {
		f := strconv.Itoa(i + 1)
		pairs = append(pairs, facetValues(a, f, path)...)
		cols = append(cols, agg(f, "j"))
	}
	sql := "WITH c AS (SELECT fv.f, fv.t, fv.j, count(*) AS n FROM " + from + " CROSS JOIN LATERAL (" +
		strings.Join(pairs, " UNION ALL ") + ") AS fv(f, t, j) WHERE " + where + " GROUP BY fv.f, fv.t, fv.j)\nSELECT " + strings.Join(cols, ",\n")
	// The one statement of a search that reads every match: it may run in
	// parallel (pg.WholeSetParallel).
	pool := s.pool
	if frac < 1 {
		pool = s.samplePool
	}
	vals, err := s.queryWholeSetRow(ctx, pool, sql, a)
	if err != nil {
		return 0, nil, fmt.Errorf("search: facets: %w", pg.Interpret(err))
	}
	total, _ := vals[0].(int64)
	fc := &FacetCounts{}
	i := 1
	decode := func() ([]FacetValue, error) {
		str, _ := vals[i].(string)
		i++
		var out []FacetValue
		if err := json.Unmarshal([]byte(str), &out); err != nil {
			return nil, fmt.Errorf("search: facets: decode: %w", err)
		}
		if out == nil {
			out = []FacetValue{}
		}
		return out, nil
	}
	if p.Q.Facets.Tags {
		if fc.Tags, err = decode(); err != nil {
			return 0, nil, err
		}
	}
	for _, path := range p.Q.Facets.Props {
		v, err := decode()
		if err != nil {
			return 0, nil, err
		}
		if fc.Props == nil {
			fc.Props = map[string][]FacetValue{}
		}
		fc.Props[strings.Join(path, ".")] = v
	}
	return total, fc, nil
}

// facetValues are the SELECTs of facet f's values of a row d: what lax
// $."a"."b"[*] gives (an array's elements, any other value itself). A
// path of one key is read with -> instead of jsonb_path_query, whose setup
// for each row took about two thirds of a sampled facet pass
// (docs/performance.md); props is always an object, so the two agree.
func facetValues(a *Args, f string, path []string) []string {
	if len(path) != 1 {
		jp := a.Add("lax "+JSONPath(path)+"[*]") + "::jsonpath"
		return []string{"SELECT " + f + ", NULL, x FROM jsonb_path_query(d.props, " + jp + ") AS x"}
	}
	v := "d.props -> " + a.Add(path[0]) + "::text"
	return []string{
		"SELECT " + f + ", NULL, x FROM jsonb_array_elements(CASE WHEN jsonb_typeof(" + v + ") = 'array' THEN " + v + " END) AS x",
		"SELECT " + f + ", NULL, " + v + " WHERE jsonb_typeof(" + v + ") <> 'array'",
	}
}
