package pg

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/geoseek/geoseek/internal/problem"
)

// SQLSTATE codes geoseek reacts to.
const (
	UniqueViolation     = "23505"
	ForeignKeyViolation = "23503"
	CheckViolation      = "23514"
	NotNullViolation    = "23502"
	InvalidText         = "22P02"
	QueryCanceled       = "57014"
	UndefinedObject     = "42704"
	ProgramLimit        = "54000"
)

// Interpret translates driver errors into the domain errors of package problem
// once, at the edge of the data layer: no rows → problem.ErrNotFound, unique
// and foreign key violations → problem.ErrConflict, a statement timeout →
// problem.ErrTimeout, a data exception or a failed check → a
// *problem.ValidationError. The problem detail is in geoseek's words; the
// driver error stays in the chain for logs. Other errors are returned as they
// are.
func Interpret(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return problem.Translate(problem.ErrNotFound, "", err)
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return err
	}
	switch pgErr.Code {
	case UniqueViolation:
		msg := "a record with the same unique key exists"
		if strings.Contains(pgErr.ConstraintName, "external_id") {
			msg = "a document with this external_id exists in the collection"
		}
		return problem.Translate(problem.ErrConflict, msg, err)
	case ForeignKeyViolation:
		return problem.Translate(problem.ErrConflict, "the request refers to a record that does not exist, or would remove one that others refer to", err)
	case ProgramLimit:
		if strings.Contains(pgErr.Message, "tsvector") {
			return problem.Translate(problem.ErrTooLarge, "the title and body make more than 1 MB of full-text index terms (1,048,575 bytes, the limit of one document's index entry); split the text into several documents", err)
		}
	case QueryCanceled:
		return problem.Translate(problem.ErrTimeout, "the query took longer than the server allows; narrow the request (a smaller area, more filters, a lower limit)", err)
	}
	if ve := DataProblem("", err); ve != nil {
		return errors.Join(ve, err)
	}
	return err
}

// DataProblem describes, in geoseek's words, a value of the request that
// PostgreSQL refused: a data exception (SQLSTATE class 22), a failed check
// or NOT NULL constraint, or a geometry PostGIS could not take; field names
// the input. It returns nil for any other error.
func DataProblem(field string, err error) *problem.ValidationError {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return nil
	}
	code := pgErr.Code
	switch {
	case code == CheckViolation || code == NotNullViolation:
		f := field
		if col := constraintColumn(pgErr); col != "" && f == "" {
			f = col
		}
		if code == NotNullViolation {
			return problem.Invalid(f, "a value is required")
		}
		if pgErr.ConstraintName == "documents_geom_check" {
			return problem.Invalid(pick(field, "geometry"), "not a valid geometry; geoseek stores only geometries valid in the OGC Simple Features sense (see docs/shapes.md)")
		}
		return problem.Invalid(f, "the value is not allowed")
	case code == "XX000" && strings.Contains(pgErr.Message, "geometry"),
		strings.HasPrefix(code, "XX") && strings.Contains(strings.ToLower(pgErr.Message), "geos"):
		return problem.Invalid(pick(field, "geometry"), "the geometry is not valid")
	case !strings.HasPrefix(code, "22"):
		return nil
	}
	var reason string
	switch code {
	case "22P05", "22021": // untranslatable character, character not in repertoire
		reason = `text must not contain NUL characters (\u0000) or invalid UTF-8`
	case "22001":
		reason = "a value is too long"
	case "22003":
		reason = "a number is out of range"
	case "22007", "22008":
		reason = "a date or time is out of range or malformed"
	case "22012":
		reason = "the request divides by zero"
	case "2201B":
		reason = "not a valid regular expression"
	case "22025", "22019":
		reason = "a pattern has an invalid escape"
	case "22P02", "22P03":
		reason = "a value is not in the expected format"
	case "22000", "22023":
		reason = "a value is not valid here"
	default:
		reason = "a value is not valid"
		if strings.HasPrefix(code, "2203") {
			reason = "a JSON value is not valid here"
		}
	}
	return problem.Invalid(field, "%s", reason)
}

// constraintColumn guesses the column of a constraint named the way
// PostgreSQL names them ("documents_external_id_check").
func constraintColumn(e *pgconn.PgError) string {
	if e.ColumnName != "" {
		return e.ColumnName
	}
	name := strings.TrimPrefix(e.ConstraintName, e.TableName+"_")
	for _, suf := range []string{"_check", "_not_null"} {
		if c, ok := strings.CutSuffix(name, suf); ok && c != "" && name != e.ConstraintName {
			return c
		}
	}
	return ""
}

func pick(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Code returns the SQLSTATE of err, or "" when err is not a server error.
func Code(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}
