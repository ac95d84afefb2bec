package pg

import (
	"errors"

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
)

// Interpret translates driver errors into the domain errors of package problem
// once, at the edge of the data layer: no rows → problem.ErrNotFound, unique
// violation → problem.ErrConflict, a statement timeout → problem.ErrTimeout.
// Other errors are returned as they are.
func Interpret(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return errors.Join(problem.ErrNotFound, err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case UniqueViolation:
			return errors.Join(problem.ErrConflict, err)
		case QueryCanceled:
			return errors.Join(problem.ErrTimeout, err)
		}
	}
	return err
}

// Code returns the SQLSTATE of err, or "" when err is not a server error.
func Code(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}
