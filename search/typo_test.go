package search_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/geoseek/geoseek/document"
	"github.com/geoseek/geoseek/internal/pgtest"
	"github.com/geoseek/geoseek/search"
)

// typoFixture: museums in titles and bodies, coffee, and five modern art
// museums with one classic one (tagged apart).
var typoFixture = []document.Doc{
	{ExternalID: ptr("museum-title"), Title: "City museum", Body: "Paintings and sculptures.", Tags: []string{"city"}},
	{ExternalID: ptr("museum-body"), Title: "Weekend trip", Body: "We visited the museum of natural history.", Tags: []string{"trip"}},
	{ExternalID: ptr("cafe"), Title: "Coffee bar", Body: "The best cappuccino in town.", Tags: []string{"food"}},
	{ExternalID: ptr("espresso"), Title: "Espresso", Body: "Short and strong.", Tags: []string{"food"}},
	{ExternalID: ptr("classic"), Title: "Classic art museum", Body: "Old masters.", Tags: []string{"art"}},
	{ExternalID: ptr("modern1"), Title: "Modern art museum", Body: "Installations.", Tags: []string{"art", "modern"}},
	{ExternalID: ptr("modern2"), Title: "Modern art museum", Body: "Installations.", Tags: []string{"art", "modern"}},
	{ExternalID: ptr("modern3"), Title: "Modern art museum", Body: "Installations.", Tags: []string{"art", "modern"}},
	{ExternalID: ptr("modern4"), Title: "Modern art museum", Body: "Installations.", Tags: []string{"art", "modern"}},
	{ExternalID: ptr("modern5"), Title: "Modern art museum", Body: "Installations.", Tags: []string{"art", "modern"}},
	{ExternalID: ptr("misspelt"), Title: "Notes", Body: "A musuem without a roof.", Tags: []string{"notes"}},
}

func typoSetup(t *testing.T) bundle {
	t.Helper()
	db := pgtest.New(t)
	ctx := context.Background()
	_, err := db.Pool.Exec(ctx, `INSERT INTO collections (name, default_lang) VALUES ('t', 'english')`)
	require.NoError(t, err)
	b := bundle{db: db, svc: search.NewService(db.Pool, search.Config{}), ids: map[string]int64{}}
	for _, d := range typoFixture {
		d.Collection = "t"
		id, err := document.Insert(ctx, db.Pool, &d)
		require.NoError(t, err)
		b.ids[*d.ExternalID] = id
	}
	return b
}

func TestTypoTolerance(t *testing.T) {
	t.Parallel()
	b := typoSetup(t)

	// A misspelt word finds titles and bodies, and the answer says which
	// word was corrected to what.
	res := b.search(t, url.Values{"q": {"capuccino"}})
	require.Equal(t, []string{"cafe"}, b.names(res))
	require.True(t, res.Fuzzy)
	require.Equal(t, []search.Correction{{Word: "capuccino", Used: []string{"cappuccino"}}}, res.Corrections)
	require.Less(t, *res.Hits[0].Score, 0.0, "found only through a correction: scored below every exact hit")

	// "musuem" is in one document (misspelt), so as typed it finds that
	// one; with a word that document lacks, nothing matches as typed and
	// every word is corrected: titles and bodies with "museum".
	res = b.search(t, url.Values{"q": {"musuem"}})
	require.Equal(t, []string{"misspelt"}, b.names(res))
	require.False(t, res.Fuzzy)
	res = b.search(t, url.Values{"q": {"musuems visited"}})
	require.Equal(t, []string{"museum-body"}, b.names(res))
	require.Equal(t, []search.Correction{{Word: "musuems", Used: []string{"museum"}}}, res.Corrections)

	// A word missing from the collection: "museun" finds title and body.
	res = b.search(t, url.Values{"q": {"museun"}, "tags_any": {"city,trip"}})
	require.Equal(t, []string{"museum-body", "museum-title"}, sorted(b.names(res)))

	// Phrases and negation keep their meaning; negated words are not
	// corrected.
	res = b.search(t, url.Values{"q": {`"art museun" -modern`}})
	require.Equal(t, []string{"classic"}, b.names(res))
	require.Equal(t, []search.Correction{{Word: "museun", Used: []string{"museum"}}}, res.Corrections)
	res = b.search(t, url.Values{"q": {`"art museun" -modren`}})
	require.Len(t, res.Hits, 6, "a misspelt negated word excludes nothing, and is not corrected")
	res = b.search(t, url.Values{"q": {`"musuem art"`}})
	require.Empty(t, res.Hits, "the phrase's order holds after correction")

	// The old fallback matched titles by trigrams and dropped the
	// negation: five "Modern art museum" hits marked fuzzy.
	res = b.search(t, url.Values{"q": {`"art museum" -modern`}, "tags": {"modern"}})
	require.Empty(t, res.Hits)
	require.False(t, res.Fuzzy)

	// OR keeps its meaning: exact hits first (scores >= 0), then the hits
	// found through the corrected word (scores < 0).
	res = b.search(t, url.Values{"q": {"museun or espresso"}, "tags_any": {"city,trip,food"}})
	require.Equal(t, "espresso", b.names(res)[0])
	require.Equal(t, []string{"espresso", "museum-body", "museum-title"}, sorted(b.names(res)))
	require.GreaterOrEqual(t, *res.Hits[0].Score, 0.0)
	for _, h := range res.Hits[1:] {
		require.Less(t, *h.Score, 0.0)
	}
	// AND stays AND: no document has both.
	res = b.search(t, url.Values{"q": {"museun cappuccino"}})
	require.Empty(t, res.Hits)

	// Words under 5 letters are not corrected ("pint" is one edit from
	// the stem "paint" of "Paintings").
	res = b.search(t, url.Values{"q": {"pint"}})
	require.Empty(t, res.Hits)
	require.Empty(t, res.Corrections)
	res = b.search(t, url.Values{"q": {"paintt"}})
	require.Equal(t, []string{"museum-title"}, b.names(res))

	// Prefix terms are not corrected, the other words are.
	res = b.search(t, url.Values{"q": {"museun sculp"}, "prefix": {"true"}})
	require.Equal(t, []string{"museum-title"}, b.names(res))

	// Highlights mark the corrected word.
	res = b.search(t, url.Values{"q": {"capuccino"}, "highlight": {"true"}})
	require.Contains(t, res.Hits[0].Highlights.Body, "<mark>cappuccino</mark>")

	// JSON and GeoJSON answers carry the corrections.
	srv, _ := serve(t, b)
	for _, f := range []string{"json", "geojson"} {
		code, _, m := call(t, "GET", srv.URL+"/search?collection=t&q=capuccino&f="+f, "")
		require.Equal(t, http.StatusOK, code, m)
		require.Equal(t, true, m["fuzzy"], f)
		require.Equal(t, []any{map[string]any{"word": "capuccino", "used": []any{"cappuccino"}}}, m["corrections"], f)
	}

	// Odd input never breaks the rewrite: websearch syntax characters,
	// quotes and backslashes next to corrected words.
	for _, q := range []string{`museun's`, `museun\\`, `'museun'`, `museun:*`, `!museun`, `(museun)`, `museun & art`,
		`"museun`, `museun <-> art`, `-"art museun" museun`, `or museun or`, `museun -`, `musée museun`, `ＭＵＳＥＵＮ`} {
		res = b.search(t, url.Values{"q": {q}})
		require.NotNil(t, res, q)
	}

	// Facets count the corrected matched set.
	res = b.search(t, url.Values{"q": {"museun"}, "facets": {"tags"}})
	require.Equal(t, int64(8), *res.Total)
}

func TestTypoPagingAndSorts(t *testing.T) {
	t.Parallel()
	b := typoSetup(t)
	// Page by one through a corrected OR query: every hit once, exact first.
	var seen []string
	v := url.Values{"q": {"museun or espresso"}, "limit": {"1"}}
	for i := 0; i < 20; i++ {
		res := b.search(t, v)
		require.True(t, res.Fuzzy)
		seen = append(seen, b.names(res)...)
		if res.NextCursor == "" {
			break
		}
		v.Set("cursor", res.NextCursor)
	}
	require.Equal(t, "espresso", seen[0])
	require.Equal(t, []string{"classic", "espresso", "modern1", "modern2", "modern3", "modern4", "modern5", "museum-body", "museum-title"}, sorted(seen))

	// The fallback that corrects every word pages the same way.
	seen = nil
	v = url.Values{"q": {"musuem"}, "tags": {"art"}, "limit": {"2"}}
	for i := 0; i < 20; i++ {
		res := b.search(t, v)
		require.True(t, res.Fuzzy)
		seen = append(seen, b.names(res)...)
		if res.NextCursor == "" {
			break
		}
		v.Set("cursor", res.NextCursor)
	}
	require.Equal(t, []string{"classic", "modern1", "modern2", "modern3", "modern4", "modern5"}, sorted(seen))

	// Other sorts keep their order and match the corrected set.
	res := b.search(t, url.Values{"q": {"museun"}, "sort": {"id"}, "tags_any": {"city,trip"}})
	require.Equal(t, []string{"museum-title", "museum-body"}, b.names(res))
}

// TestWordListFollowsWrites: a new or changed document's words become
// correctable at once (the list is kept by the write path), and a
// writer adding a new word never waits for another transaction that adds
// the same word.
func TestWordListFollowsWrites(t *testing.T) {
	t.Parallel()
	b := typoSetup(t)
	ctx := context.Background()
	res := b.search(t, url.Values{"q": {"zepelin"}})
	require.Empty(t, res.Hits)

	id, err := document.Insert(ctx, b.db.Pool, &document.Doc{Collection: "t", Title: "Airships", Body: "The zeppelin landed."})
	require.NoError(t, err)
	res = b.search(t, url.Values{"q": {"zepelin"}})
	require.Len(t, res.Hits, 1)
	require.Equal(t, id, res.Hits[0].ID)

	// An update that changes the text lists its new words.
	_, err = b.db.Pool.Exec(ctx, `UPDATE documents SET body = 'A tremendous gondola.' WHERE id = $1`, id)
	require.NoError(t, err)
	res = b.search(t, url.Values{"q": {"gondolla"}})
	require.Len(t, res.Hits, 1)

	// Two transactions bringing the same new word: the second does not
	// wait for the first to commit.
	tx, err := b.db.Pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck
	_, err = document.Insert(ctx, tx, &document.Doc{Collection: "t", Title: "Harpsichord", Body: "harpsichord"})
	require.NoError(t, err)
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err = document.Insert(wctx, b.db.Pool, &document.Doc{Collection: "t", Title: "Harpsichord", Body: "harpsichord music"})
	require.NoError(t, err, "a writer waited for another transaction's new word")
	require.NoError(t, tx.Commit(ctx))
	var n int
	require.NoError(t, b.db.Pool.QueryRow(ctx, `SELECT count(*) FROM search_words WHERE word = 'harpsichord'`).Scan(&n))
	require.GreaterOrEqual(t, n, 1)
	res = b.search(t, url.Values{"q": {"harpsicord"}})
	require.Len(t, res.Hits, 2)
	require.Equal(t, []search.Correction{{Word: "harpsicord", Used: []string{"harpsichord"}}}, res.Corrections)

	// Refresh merges duplicates and drops the words no document has.
	_, err = b.db.Pool.Exec(ctx, `DELETE FROM documents WHERE id = $1`, id)
	require.NoError(t, err)
	_, err = b.db.Pool.Exec(ctx, `SELECT search_words_refresh(id) FROM collections WHERE name = 't'`)
	require.NoError(t, err)
	require.NoError(t, b.db.Pool.QueryRow(ctx, `SELECT count(*) FROM search_words WHERE word IN ('harpsichord', 'gondola', 'zeppelin')`).Scan(&n))
	require.Equal(t, 1, n)

	// Emptying documents empties the list.
	_, err = b.db.Pool.Exec(ctx, `TRUNCATE documents CASCADE`)
	require.NoError(t, err)
	require.NoError(t, b.db.Pool.QueryRow(ctx, `SELECT count(*) FROM search_words`).Scan(&n))
	require.Zero(t, n)
}
