package search

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/geoseek/geoseek/internal/pg"
	"github.com/geoseek/geoseek/internal/problem"
)

// RankWeights are ts_rank_cd's weights for labels {D, C, B, A}. The stored
// tsvector labels title words A and body words B, so one title occurrence
// counts 2.5 times one body occurrence.
const RankWeights = "'{0.1, 0.2, 0.4, 1.0}'::float4[]"

// RankExpr is the relevance of tsvector expression vec for tsquery expression
// tsq: ts_rank_cd (cover density: near, ordered matches score higher) with
// normalisation 32, which maps it to [0, 1) as rank/(rank+1).
func RankExpr(vec, tsq string) string {
	return "ts_rank_cd(" + RankWeights + ", " + vec + ", " + tsq + ", 32)"
}

// Where compiles the conditions every mode shares, the collection and the
// filter tree, into a WHERE fragment over documents aliased "d". Semantic and
// hybrid search AND it with their own clauses in the same statement.
func (p *Plan) Where(a *Args) string {
	w := "d.collection_id = " + a.Add(p.CollectionID) + "::bigint"
	if p.Q.Filter != nil {
		w += " AND (" + p.Q.Filter.Compile(a) + ")"
	}
	return w
}

// HasText reports whether the query has text to match.
func (p *Plan) HasText() bool { return strings.TrimSpace(p.Q.Text) != "" }

// TSQuery compiles the query text to a tsquery expression in the plan's
// language: websearch_to_tsquery (quoted phrases, OR, -negation), and with
// Prefix the last word, while being typed, as a prefix match (word:*).
// It returns "" when there is no text. When typo tolerance corrected some
// words (see typo.go), it is the rewritten query instead.
func (p *Plan) TSQuery(a *Args) string {
	if !p.HasText() {
		return ""
	}
	if p.typo != nil {
		return a.Add(p.typo.query) + "::tsquery"
	}
	cfg := a.Add(p.Lang) + "::regconfig"
	text := p.Q.Text
	if p.Q.Prefix {
		if head, word, or, ok := splitLastWord(text); ok {
			pq := "to_tsquery(" + cfg + ", " + a.Add(prefixTerm(word)) + "::text)"
			if strings.TrimSpace(head) == "" {
				return pq
			}
			op := " && "
			if or {
				op = " || "
			}
			return "(websearch_to_tsquery(" + cfg + ", " + a.Add(head) + "::text)" + op + pq + ")"
		}
	}
	return "websearch_to_tsquery(" + cfg + ", " + a.Add(text) + "::text)"
}

// splitLastWord finds the word being typed at the end of text: a run of
// letters and digits that is not followed by a space (the user has not
// finished it), not inside an open quote (phrases match whole words) and not
// negated. or is true when the head ends with the websearch OR keyword.
func splitLastWord(text string) (head, word string, or, ok bool) {
	end := len(text)
	start := end
	for start > 0 {
		r, size := utf8.DecodeLastRuneInString(text[:start])
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			break
		}
		start -= size
	}
	if start == end || strings.Count(text, `"`)%2 == 1 {
		return "", "", false, false
	}
	if start > 0 && text[start-1] == '-' {
		return "", "", false, false
	}
	head = text[:start]
	t := strings.TrimRightFunc(head, unicode.IsSpace)
	if len(t) >= 2 && strings.EqualFold(t[len(t)-2:], "or") && (len(t) == 2 || unicode.IsSpace(rune(t[len(t)-3]))) {
		head, or = t[:len(t)-2], true
	}
	return head, text[start:end], or, true
}

// prefixTerm quotes a word as a tsquery prefix literal: 'word':*. The word is
// letters and digits only, but quote and backslash are escaped regardless.
func prefixTerm(w string) string {
	w = strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(w)
	return "'" + w + "':*"
}

// sortExpr is the SQL of a non-relevance sort key over "d" and the Go kind of
// its value for the cursor.
func (p *Plan) sortExpr(a *Args) (expr string, kind keyKind) {
	switch p.Q.Sort.Key {
	case SortCreated:
		return "d.created_at", keyTime
	case SortUpdated:
		return "d.updated_at", keyTime
	case SortPeriod:
		return "CASE WHEN isfinite(lower(d.period)) THEN lower(d.period) END", keyTime
	case SortDistance:
		return "ST_Distance(d.geom::geography, " + p.point(a) + "::geography)", keyFloat
	case SortProp:
		return "(d.props #> " + a.Add(p.Q.Sort.Path) + "::text[])", keyJSON
	}
	return "d.id", keyID
}

type keyKind int

const (
	keyID keyKind = iota
	keyScore
	keyTime
	keyFloat
	keyJSON
)

func (p *Plan) point(a *Args) string {
	return "ST_SetSRID(ST_MakePoint(" + a.Add(p.Q.Point[0]) + "::float8, " + a.Add(p.Q.Point[1]) + "::float8), 4326)"
}

// keyParam binds the cursor's key value with the SQL type of its kind.
func keyParam(a *Args, kind keyKind, raw json.RawMessage) (string, error) {
	switch kind {
	case keyScore:
		var f float32
		if err := json.Unmarshal(raw, &f); err != nil {
			return "", errBadCursor
		}
		return a.Add(f) + "::real", nil
	case keyFloat:
		var f float64
		if err := json.Unmarshal(raw, &f); err != nil {
			return "", errBadCursor
		}
		return a.Add(f) + "::float8", nil
	case keyTime:
		var t time.Time
		if err := json.Unmarshal(raw, &t); err != nil {
			return "", errBadCursor
		}
		return a.Add(t) + "::timestamptz", nil
	case keyJSON:
		if !json.Valid(raw) {
			return "", errBadCursor
		}
		return a.Add(string(raw)) + "::jsonb", nil
	}
	return "", errBadCursor
}

// keyset is the condition "after the cursor" for order key expr (NULLS LAST)
// then id ascending.
func keyset(a *Args, expr string, kind keyKind, desc bool, c *cursor) (string, error) {
	id := a.Add(c.ID) + "::bigint"
	if kind == keyID {
		if desc {
			return "d.id < " + id, nil
		}
		return "d.id > " + id, nil
	}
	if string(c.Key) == "null" || len(c.Key) == 0 {
		return "(" + expr + " IS NULL AND d.id > " + id + ")", nil
	}
	k, err := keyParam(a, kind, c.Key)
	if err != nil {
		return "", err
	}
	cmp := " > "
	if desc {
		cmp = " < "
	}
	return "(" + expr + cmp + k + " OR " + expr + " IS NULL OR (" + expr + " = " + k + " AND d.id > " + id + "))", nil
}

func dir(desc bool) string {
	if desc {
		return " DESC"
	}
	return " ASC"
}

// keyword runs a keyword (or filter-only) search, with typo tolerance (see
// typo.go): words missing from the collection's word list are corrected,
// and when the first page finds nothing, every eligible word is.
func (s *Service) keyword(ctx context.Context, p *Plan) (*Result, error) {
	all := p.cursor != nil && p.cursor.Typo
	if _, err := s.correct(ctx, p, all); err != nil {
		return nil, err
	}
	res, err := s.keywordPage(ctx, p)
	if err != nil || len(res.Hits) > 0 || p.cursor != nil || all || !p.HasText() {
		return res, err
	}
	before := p.typo
	if ok, err := s.correct(ctx, p, true); err != nil || !ok {
		return res, err
	}
	if before != nil && before.query == p.typo.query {
		return res, nil // every eligible word was missing: nothing new to try
	}
	retry, err := s.keywordPage(ctx, p)
	if err != nil || len(retry.Hits) == 0 {
		return res, err // the answer as typed, with what it corrected
	}
	return retry, nil
}

// keywordPage runs one page of p as it stands (with p.typo's corrections).
func (s *Service) keywordPage(ctx context.Context, p *Plan) (*Result, error) {
	q := p.Q
	facets := s.startFacets(ctx, p, p.matchWhere)
	defer facets.cancel()
	a := &Args{}
	where := p.Where(a)
	tsq := p.TSQuery(a)
	if tsq != "" {
		where += " AND d.search @@ " + tsq
	}
	limit := a.Add(q.Limit+1) + "::int"
	var ranked, order string
	var kind keyKind
	var strat Strategy
	byIDs := false
	if q.Sort.Key == SortRelevance {
		kind = keyScore
		var (
			top []impactHit
			err error
		)
		// A corrected query is an OR of words: impact tiers do not apply.
		strat = StrategyExact
		if p.typo == nil {
			if strat, top, err = s.tieredTop(ctx, p, q.Limit+1, p.cursor); err != nil {
				return nil, err
			}
		}
		if top != nil {
			// The page is known: fetch its documents by id with a fresh
			// argument list (the ranking's values are not used here).
			a = &Args{}
			tsq = p.TSQuery(a)
			ranked = "SELECT s.id, s.score, s.score AS k, NULL::bigint AS n FROM (" + impactRanked(a, top) + ") s"
			byIDs = true
		}
	}
	if byIDs {
		order = "page.score DESC, page.id"
	} else if q.Sort.Key == SortRelevance {
		inner := s.rankedInner(a, p, strat, where, tsq)
		cond := "TRUE"
		if p.cursor != nil {
			k, err := keyParam(a, keyScore, p.cursor.Key)
			if err != nil {
				return nil, err
			}
			id := a.Add(p.cursor.ID) + "::bigint"
			cond = "(s.score < " + k + " OR (s.score = " + k + " AND s.id > " + id + "))"
		}
		ranked = "SELECT s.id, s.score, s.score AS k, s.n FROM (" + inner + ") s WHERE " + cond + " ORDER BY s.score DESC, s.id LIMIT " + limit
		order = "page.score DESC, page.id"
	} else {
		var err error
		if ranked, order, kind, err = sortedPage(a, p, where, limit); err != nil {
			return nil, err
		}
	}
	hits, keys, n, err := s.hydrate(ctx, p, a, ranked, order, tsq, kind, byIDs)
	if err != nil {
		return nil, err
	}
	res := s.keywordResult(p, hits, keys, n, strat)
	if err := facets.wait(res); err != nil {
		return nil, err
	}
	return res, nil
}

// sortedPage is the subquery of a page ordered by p's sort key (not
// relevance) after p's cursor, and the order of its hydrated rows.
func sortedPage(a *Args, p *Plan, where, limit string) (ranked, order string, kind keyKind, err error) {
	q := p.Q
	expr, kind := p.sortExpr(a)
	w := where
	if p.cursor != nil {
		cond, err := keyset(a, expr, kind, q.Sort.Desc, p.cursor)
		if err != nil {
			return "", "", kind, err
		}
		w += " AND " + cond
	}
	ob := expr + dir(q.Sort.Desc) + " NULLS LAST, d.id"
	if kind == keyID {
		ob = "d.id" + dir(q.Sort.Desc)
	}
	ranked = "SELECT d.id, NULL::real AS score, " + expr + " AS k, NULL::bigint AS n FROM documents d WHERE " + w + " ORDER BY " + ob + " LIMIT " + limit
	order = "page.k" + dir(q.Sort.Desc) + " NULLS LAST, page.id"
	if kind == keyID {
		order = "page.id" + dir(q.Sort.Desc)
	}
	return ranked, order, kind, nil
}

// keywordResult is the page of hits (one more than the limit when another
// page follows), keys their sort keys, and n the number of candidates strat
// ranked, as a Result with its next cursor.
func (s *Service) keywordResult(p *Plan, hits []Hit, keys []json.RawMessage, n int64, strat Strategy) *Result {
	q := p.Q
	res := &Result{Collection: q.Collection, Mode: ModeKeyword, Hits: hits, Ranking: strat}
	seen := 0
	if p.cursor != nil {
		seen = p.cursor.Seen
	}
	if len(hits) > q.Limit {
		res.Hits = hits[:q.Limit]
		last := res.Hits[q.Limit-1]
		res.NextCursor = encodeCursor(s.secret, cursor{Hash: q.hash(), Key: keys[q.Limit-1], ID: last.ID, Seen: seen + q.Limit, Strategy: strat,
			Typo: p.typo != nil && p.typo.all})
	} else if (strat == StrategyRUM && n >= int64(s.window)) || (strat == StrategyRecent && n >= int64(s.sample)) {
		res.Truncated = true
	}
	if p.typo != nil {
		res.Fuzzy, res.Corrections = true, p.typo.fixes
	}
	return res
}

// matchWhere is the condition of the whole matched set of a keyword query.
func (p *Plan) matchWhere(a *Args) string {
	w := p.Where(a)
	if tsq := p.TSQuery(a); tsq != "" {
		w += " AND d.search @@ " + tsq
	}
	return w
}

// hydrate runs ranked — a statement yielding (id, score real, k, n bigint)
// rows, already limited to one page — and fetches the page's documents, with
// highlights (only for these rows) when tsq is given. It returns the hits,
// each hit's sort key as JSON for the cursor, and the n column of the first
// row. byIDs says ranked only unnests a list of ids, so the statement may
// be prepared once (its plan does not depend on the values).
func (s *Service) hydrate(ctx context.Context, p *Plan, a *Args, ranked, order, tsq string, kind keyKind, byIDs bool) ([]Hit, []json.RawMessage, int64, error) {
	score := "page.score::float8"
	if tsq != "" && p.Q.Sort.Key != SortRelevance {
		score = p.rankExpr(a, "d.search", tsq) + "::float8"
	}
	dist := "NULL::float8"
	if p.Q.Point != nil {
		dist = "ST_Distance(d.geom::geography, " + p.point(a) + "::geography)"
	}
	hl := "NULL::text, NULL::text"
	if tsq != "" && p.Q.Highlight {
		cfg := a.Add(p.Lang) + "::regconfig"
		hl = "ts_headline(" + cfg + ", d.title, " + tsq + ", 'HighlightAll=true, StartSel=' || chr(2) || ', StopSel=' || chr(3))," +
			"search_headline(" + cfg + ", d.body, " + tsq + ", 'MaxFragments=2, MaxWords=30, MinWords=12, FragmentDelimiter=\" … \", StartSel=' || chr(2) || ', StopSel=' || chr(3))"
	}
	kcol := "page.k::text"
	if kind == keyTime {
		kcol = "to_json(page.k)::text"
	}
	sql := "WITH page AS MATERIALIZED (" + ranked + ")\n" +
		"SELECT d.id, d.external_id, d.title, d.lang::text, d.tags, d.props::text," +
		" CASE WHEN isfinite(lower(d.period)) THEN lower(d.period) END, CASE WHEN isfinite(upper(d.period)) THEN upper(d.period) END," +
		" lower_inc(d.period), upper_inc(d.period), d.period IS NOT NULL AND NOT isempty(d.period)," +
		" ST_AsGeoJSON(d.geom)::text, d.created_at, d.updated_at, " + score + ", " + dist + ", " + hl + ", " + kcol + ", page.n\n" +
		"FROM page JOIN documents d ON d.id = page.id\nORDER BY " + order
	query := s.query
	if byIDs {
		query = s.queryPrepared
	}
	rows, err := query(ctx, sql, a)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("search: query: %w", pg.Interpret(err))
	}
	defer rows.Close()
	var (
		hits []Hit
		keys []json.RawMessage
		n    int64
	)
	for rows.Next() {
		var (
			h                  Hit
			props, geo, k      *string
			lo, up             *time.Time
			loInc, upInc, hasP *bool
			sc                 *float64
			hlT, hlB           *string
			nn                 *int64
		)
		if err := rows.Scan(&h.ID, &h.ExternalID, &h.Title, &h.Lang, &h.Tags, &props, &lo, &up, &loInc, &upInc, &hasP,
			&geo, &h.CreatedAt, &h.UpdatedAt, &sc, &h.DistanceM, &hlT, &hlB, &k, &nn); err != nil {
			return nil, nil, 0, fmt.Errorf("search: scan: %w", pg.Interpret(err))
		}
		h.Score = sc
		h.fill(props, geo, lo, up, loInc, upInc, hasP)
		if hlT != nil {
			h.Highlights = &Highlights{Title: markup(*hlT), Body: markup(deref(hlB))}
		}
		key := json.RawMessage("null")
		if k != nil {
			key = json.RawMessage(*k)
			if kind == keyID {
				key = json.RawMessage(strconv.FormatInt(h.ID, 10))
			}
		}
		if nn != nil && n == 0 {
			n = *nn
		}
		hits = append(hits, h)
		keys = append(keys, key)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, 0, fmt.Errorf("search: query: %w", pg.Interpret(err))
	}
	if hits == nil {
		hits = []Hit{}
	}
	return hits, keys, n, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// markup HTML-escapes a ts_headline result and turns its \x02…\x03 match
// markers into <mark>…</mark>.
func markup(s string) string {
	s = html.EscapeString(s)
	return strings.NewReplacer("\x02", "<mark>", "\x03", "</mark>").Replace(s)
}

// KeywordRanked returns a statement selecting (id bigint, score real) of the
// best limit keyword matches of p, best first, binding into a; hybrid search
// uses it as one input of rank fusion in the same statement. The ranking is
// the one keyword search uses (see Strategy).
func (s *Service) KeywordRanked(ctx context.Context, p *Plan, a *Args, limit int) (string, error) {
	if !p.HasText() {
		return "SELECT NULL::bigint AS id, NULL::real AS score WHERE FALSE", nil
	}
	// A corrected query is an OR of words: impact tiers do not apply.
	strat := StrategyExact
	if p.typo == nil {
		var (
			top []impactHit
			err error
		)
		strat, top, err = s.tieredTop(ctx, p, limit, nil) // hybrid pages by offset, not by keyword cursor
		if err != nil {
			return "", err
		}
		if top != nil {
			return impactRanked(a, top), nil
		}
	}
	where := p.Where(a)
	tsq := p.TSQuery(a)
	where += " AND d.search @@ " + tsq
	return "SELECT s.id, s.score FROM (" + s.rankedInner(a, p, strat, where, tsq) + ") s ORDER BY s.score DESC, s.id LIMIT " + a.Add(limit) + "::int", nil
}

// tieredTop picks p's ranking strategy and, for impact and bounded, ranks
// the best need matches after cursor c through the impact tiers. top is
// nil when the page is to be ranked by strat in SQL (a bounded ranking that
// could not prove its page falls back to exact). top is never nil when
// the tiers ranked the page, even when it is empty.
func (s *Service) tieredTop(ctx context.Context, p *Plan, need int, c *cursor) (Strategy, []impactHit, error) {
	strat, t, err := s.strategy(ctx, p)
	if err != nil {
		return "", nil, err
	}
	switch strat {
	case StrategyImpact:
		top, err := s.impactTop(ctx, p, t.lexemes[0], need, c)
		if top == nil {
			top = []impactHit{}
		}
		return strat, top, err
	case StrategyPair:
		top, err := s.pairTop(ctx, p, t.lexemes[0], t.lexemes[1], need, c)
		if top == nil {
			top = []impactHit{}
		}
		return strat, top, err
	case StrategyBounded:
		top, ok, err := s.boundedTop(ctx, p, t, need, c)
		if err != nil || !ok {
			return StrategyExact, nil, err
		}
		return strat, top, nil
	}
	return strat, nil, nil
}

var errBadCursor = problem.Invalid("cursor", "malformed cursor")

// fill sets the hit fields read from the document columns every hit query
// selects: props and geometry as raw JSON, tags never null, and the period
// with its bounds from the range's parts.
func (h *Hit) fill(props, geo *string, lo, up *time.Time, loInc, upInc, hasP *bool) {
	if props != nil {
		h.Props = json.RawMessage(*props)
	}
	h.Geometry = json.RawMessage("null")
	if geo != nil {
		h.Geometry = json.RawMessage(*geo)
	}
	if h.Tags == nil {
		h.Tags = []string{}
	}
	if hasP != nil && *hasP {
		b := []byte("()")
		if loInc != nil && *loInc {
			b[0] = '['
		}
		if upInc != nil && *upInc {
			b[1] = ']'
		}
		h.Period = &PeriodValue{From: lo, To: up, Bounds: string(b)}
	}
}
