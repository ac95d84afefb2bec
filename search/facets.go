package search

import (
	"context"
	"encoding/json"
	"fmt"
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
	a := &Args{}
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
		jp := a.Add("lax "+JSONPath(path)+"[*]") + "::jsonpath"
		pairs = append(pairs, "SELECT "+f+", NULL, x FROM jsonb_path_query(d.props, "+jp+") AS x")
		cols = append(cols, agg(f, "j"))
	}
	sql := "WITH c AS (SELECT fv.f, fv.t, fv.j, count(*) AS n FROM documents d CROSS JOIN LATERAL (" +
		strings.Join(pairs, " UNION ALL ") + ") AS fv(f, t, j) WHERE " + where + " GROUP BY fv.f, fv.t, fv.j)\nSELECT " + strings.Join(cols, ",\n")
	// The one statement of a search that reads every match: it may run in
	// parallel (pg.WholeSetParallel).
	vals, err := s.queryWholeSetRow(ctx, sql, a)
	if err != nil {
		return fmt.Errorf("search: facets: %w", pg.Interpret(err))
	}
	total, _ := vals[0].(int64)
	res.Total = &total
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
			return err
		}
	}
	for _, path := range p.Q.Facets.Props {
		v, err := decode()
		if err != nil {
			return err
		}
		if fc.Props == nil {
			fc.Props = map[string][]FacetValue{}
		}
		fc.Props[strings.Join(path, ".")] = v
	}
	res.Facets = fc
	return nil
}
