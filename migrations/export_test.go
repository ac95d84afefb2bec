package migrations

import "io/fs"

func FsGlob() ([]string, error) { return fs.Glob(sqlFiles, "sql/*.sql") }
