package search

import "strconv"

// Args collects the positional parameters of one SQL statement. Add binds a
// value and returns its placeholder, so SQL text is only ever built from
// constants and placeholders.
type Args struct {
	vals []any
}

// Add binds v and returns its placeholder ("$1", "$2", ...).
func (a *Args) Add(v any) string {
	a.vals = append(a.vals, v)
	return "$" + strconv.Itoa(len(a.vals))
}

// Values returns the bound values in placeholder order.
func (a *Args) Values() []any { return a.vals }

// Len is the number of values bound so far.
func (a *Args) Len() int { return len(a.vals) }
