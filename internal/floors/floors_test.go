package floors

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/geoseek/geoseek"

// domains are the middle floor; internal/ may import none of them.
var domains = []string{"search", "geo", "embed", "ingest", "document"}

// TestFloors reads the import clauses of every Go file of the module, tests
// included, and fails on an import that points up a floor.
func TestFloors(t *testing.T) {
	t.Parallel()
	root := moduleRoot(t)
	imports := map[string]map[string]bool{} // package dir (slash, relative) -> module-relative imports
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "data" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		dir := filepath.ToSlash(rel)
		if imports[dir] == nil {
			imports[dir] = map[string]bool{}
		}
		for _, spec := range f.Imports {
			p, err := strconv.Unquote(spec.Path.Value)
			if err != nil {
				return err
			}
			if p == module {
				imports[dir]["."] = true
			} else if r, ok := strings.CutPrefix(p, module+"/"); ok {
				imports[dir][r] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("floors: read the module's imports: %v", err)
	}
	if len(imports["cmd/geoseek"]) == 0 || imports["internal/pgtest"] == nil {
		t.Fatalf("floors: the walk from %s found no cmd/geoseek imports or no internal/pgtest: wrong root?", root)
	}
	for dir, imps := range imports {
		for imp := range imps {
			switch {
			case !under(dir, "cmd") && under(imp, "cmd"):
				t.Errorf("%s imports %s: only cmd/ may import cmd/", dir, imp)
			case under(dir, "internal") && slices.ContainsFunc(domains, func(d string) bool { return under(imp, d) }):
				t.Errorf("%s imports the domain %s: internal/ is the ground floor and imports no domain", dir, imp)
			}
		}
	}
}

// under reports whether the module-relative path p is dir or inside it.
func under(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

// moduleRoot is the directory of go.mod above the test's working directory.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("floors: working directory: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		} else if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("floors: look for go.mod: %v", err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("floors: no go.mod above the working directory")
		}
		dir = parent
	}
}

// sqlOnCollections matches SQL that reads or writes the collections table.
var sqlOnCollections = regexp.MustCompile(`(?i)\b(FROM|JOIN|UPDATE|INTO)\s+collections\b`)

// TestCollectionsSQLOnlyInDocument: document is the one owner of the
// collections table; the other domains, internal/ and the program read and
// write it through document's API (the bench harness sets up its own data
// and is left out).
func TestCollectionsSQLOnlyInDocument(t *testing.T) {
	t.Parallel()
	root := moduleRoot(t)
	for _, dir := range []string{"search", "geo", "ingest", "embed", "internal", "cmd/geoseek"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING && sqlOnCollections.MatchString(lit.Value) {
					t.Errorf("%s: SQL on the collections table outside document/: call a document function instead", fset.Position(lit.Pos()))
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
