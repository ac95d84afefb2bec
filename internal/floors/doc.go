// Package floors holds the test that keeps geoseek's packages in floors:
// cmd/ at the top (main, the app wiring, the bench harness), the domains
// (search, geo, embed, ingest, document) in the middle, and internal/ at the
// ground. Imports only point down: nothing outside cmd/ imports cmd/, and no
// package under internal/ imports a domain. The package has no code of its
// own; `make test` and `make lint` run its test.
package floors
