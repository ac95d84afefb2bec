package problem

import (
	"errors"
	"fmt"
	"testing"
)

// sqlError stands for a driver error (pgconn.PgError has SQLState too).
type sqlError struct{}

func (sqlError) Error() string {
	return "ERROR: duplicate key value violates unique constraint \"k\" (SQLSTATE 23505)"
}
func (sqlError) SQLState() string { return "23505" }

// TestDetailWithoutDriverText: whatever wraps a database error, its text
// never reaches the problem detail; the service's own words around it do.
func TestDetailWithoutDriverText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("collection \"x\": %w", errors.Join(ErrConflict, sqlError{})), `collection "x"`},
		{errors.Join(ErrConflict, sqlError{}), ""},
		{fmt.Errorf("a: %w", Translate(ErrConflict, "a document with this external_id exists", sqlError{})), "a document with this external_id exists"},
		{Translate(ErrNotFound, "", sqlError{}), ""},
		{fmt.Errorf("%w: %w", ErrConflict, fmt.Errorf("wrapped %w", sqlError{})), "Conflict: wrapped"},
		{fmt.Errorf("photo 7: %w", ErrNotFound), "photo 7: Not found"},
	} {
		d, known := From(tc.err)
		if !known || d.Detail != tc.want {
			t.Errorf("%q: detail %q (known %v), want %q", tc.err, d.Detail, known, tc.want)
		}
	}
}
