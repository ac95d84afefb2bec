package migrations

import (
	"context"
	"io/fs"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

func FsGlob() ([]string, error) { return fs.Glob(sqlFiles, "sql/*.sql") }

// UpTo applies the SQL migrations up to and including version v, so a test
// can write rows as an older schema allowed them and then migrate on.
func UpTo(ctx context.Context, pool *pgxpool.Pool, v int64) error {
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	p, err := provider(db)
	if err != nil {
		return err
	}
	_, err = p.UpTo(ctx, v)
	return err
}

// UpToFrom applies the SQL migrations of fsys (files at its root) up to and
// including version v, so a test can migrate as an older release did.
func UpToFrom(ctx context.Context, pool *pgxpool.Pool, fsys fs.FS, v int64) error {
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	p, err := providerFS(db, fsys)
	if err != nil {
		return err
	}
	_, err = p.UpTo(ctx, v)
	return err
}
