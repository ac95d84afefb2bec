package search

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/geoseek/geoseek/internal/pg"
)

// facets counts tag values and props values over the whole matched set (not
// just the page) in one statement: the matched rows' tags and props are
// materialised once and every facet groups over them. It also sets
// res.Total. Array values of a props path count once per element (lax
// jsonpath $."key"[*]).
func (s *Service) facets(ctx context.Context, p *Plan, match func(*Args) string, res *Result) error {
	a := &Args{}
	where := match(a)
	lim := a.Add(p.Q.Facets.Limit) + "::int"
	var cols []string
	cols = append(cols, "(SELECT count(*) FROM m)")
	agg := func(from string) string {
		return "(SELECT coalesce(json_agg(json_build_object('value', t.v, 'count', t.c) ORDER BY t.c DESC, t.v), '[]')::text FROM (" +
			"SELECT x.v, count(*) AS c FROM " + from + " GROUP BY x.v ORDER BY c DESC, x.v LIMIT " + lim + ") t)"
	}
	if p.Q.Facets.Tags {
		cols = append(cols, agg("m, unnest(m.tags) AS x(v)"))
	}
	for _, path := range p.Q.Facets.Props {
		jp := a.Add("lax "+JSONPath(path)+"[*]") + "::jsonpath"
		cols = append(cols, agg("m, jsonb_path_query(m.props, "+jp+") AS x(v)"))
	}
	sql := "WITH m AS MATERIALIZED (SELECT d.tags, d.props FROM documents d WHERE " + where + ")\nSELECT " + strings.Join(cols, ",\n")
	rows, err := s.query(ctx, sql, a)
	if err != nil {
		return fmt.Errorf("search: facets: %w", pg.Interpret(err))
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return fmt.Errorf("search: facets: %w", pg.Interpret(err))
		}
		return fmt.Errorf("search: facets: no row")
	}
	vals, err := rows.Values()
	if err != nil {
		return fmt.Errorf("search: facets: %w", pg.Interpret(err))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
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
