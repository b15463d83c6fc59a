package depcheck

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	urfave "github.com/urfave/cli/v2"

	"github.com/tagrelay/tagrelay/internal/cli/tagrelay"
	"github.com/tagrelay/tagrelay/internal/clirun"
)

// capabilities are the packages whose errors say what happened and never which flag to pass:
// the same library serves several commands (release has no --force, bump no --timeout), so
// only the command knows its flags and adds them (STYLE.md §4, issue 9).
var capabilities = []string{"bump", "gitops", "mirror", "registry", "release"}

// TestLibraryHintsNameNoFlag reads every hint (errdefs.WithHint) and error message (errors.New,
// fmt.Errorf) of the capability packages' production code for the name of a flag of tagrelay,
// or of one of its environment variables. Constants and local variables handed to those calls
// are followed.
func TestLibraryHintsNameNoFlag(t *testing.T) {
	t.Parallel()
	names := cliNames()
	if !names["--force"] || !names["TAGRELAY_LFS"] {
		t.Fatalf("the flags of the tagrelay app were not found: %d names", len(names))
	}
	// The default of trigger.reconciler.tokenEnv in .tagrelay.yaml: a name of the config file,
	// which release reads through its Secret callback.
	allowed := map[string]bool{"release TAGRELAY_RECONCILER_TOKEN": true}
	word := regexp.MustCompile(`--[a-z][a-z0-9-]*|\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b`)
	for _, pkg := range capabilities {
		for _, text := range messages(t, filepath.Join("..", "..", pkg)) {
			for _, w := range word.FindAllString(text.s, -1) {
				if names[w] && !allowed[pkg+" "+w] {
					t.Errorf("%s: %q names %s; let the command add its flags to the hint", text.pos, text.s, w)
				}
			}
		}
	}
}

// cliNames returns the flag names (--name) and environment variables of every command of tagrelay.
func cliNames() map[string]bool {
	names := map[string]bool{}
	var walk func(flags []urfave.Flag, cmds []*urfave.Command)
	walk = func(flags []urfave.Flag, cmds []*urfave.Command) {
		for _, f := range flags {
			for _, n := range f.Names() {
				if len(n) > 1 {
					names["--"+n] = true
				}
			}
			if ev, ok := f.(interface{ GetEnvVars() []string }); ok {
				for _, e := range ev.GetEnvVars() {
					names[e] = true
				}
			}
		}
		for _, c := range cmds {
			walk(c.Flags, c.Subcommands)
		}
	}
	app := tagrelay.NewApp(clirun.NewEnv(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{}, nil))
	walk(app.Flags, app.Commands)
	return names
}

type message struct {
	pos string
	s   string
}

// messages returns the strings that reach a hint or an error message in the package in dir.
func messages(t *testing.T, dir string) []message {
	t.Helper()
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	consts := map[string][]string{} // package-level constants and variables
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
		for _, d := range f.Decls {
			if g, ok := d.(*ast.GenDecl); ok {
				for _, s := range g.Specs {
					if vs, ok := s.(*ast.ValueSpec); ok {
						for i, n := range vs.Names {
							if i < len(vs.Values) {
								consts[n.Name] = literals(vs.Values[i], nil)
							}
						}
					}
				}
			}
		}
	}
	// A string a function returns reaches the message of its caller (registry's classify).
	for _, f := range files {
		for _, d := range f.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil && fn.Body != nil {
				consts[fn.Name.Name+"()"] = nil
			}
		}
	}
	for range 3 { // calls of calls
		for _, f := range files {
			for _, d := range f.Decls {
				if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil && fn.Body != nil {
					consts[fn.Name.Name+"()"] = returned(fn.Body, consts)
				}
			}
		}
	}
	var out []message
	for _, f := range files {
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			locals := localStrings(fn.Body, consts)
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				if arg := messageArg(call); arg != nil {
					for _, s := range literals(arg, locals) {
						out = append(out, message{pos: fset.Position(arg.Pos()).String(), s: s})
					}
				}
				return true
			})
		}
	}
	return out
}

// messageArg returns the argument of call that becomes a hint or an error message, nil for
// other calls.
func messageArg(call *ast.CallExpr) ast.Expr {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return nil
	}
	pkg, ok := sel.X.(*ast.Ident)
	if !ok {
		return nil
	}
	switch {
	case pkg.Name == "errdefs" && sel.Sel.Name == "WithHint" && len(call.Args) == 2:
		return call.Args[1]
	case pkg.Name == "errors" && sel.Sel.Name == "New" && len(call.Args) == 1,
		pkg.Name == "fmt" && sel.Sel.Name == "Errorf" && len(call.Args) > 0:
		return call.Args[0]
	}
	return nil
}

// localStrings maps the names assigned in body to the strings assigned to them, on top of
// the package's.
func localStrings(body *ast.BlockStmt, consts map[string][]string) map[string][]string {
	m := map[string][]string{}
	for k, v := range consts {
		m[k] = v
	}
	ast.Inspect(body, func(n ast.Node) bool {
		as, ok := n.(*ast.AssignStmt)
		if !ok {
			return true
		}
		for i, l := range as.Lhs {
			id, ok := l.(*ast.Ident)
			switch {
			case !ok:
			case len(as.Rhs) == len(as.Lhs):
				m[id.Name] = append(m[id.Name], literals(as.Rhs[i], consts)...)
			case len(as.Rhs) == 1: // hint, kind := classify(err)
				m[id.Name] = append(m[id.Name], literals(as.Rhs[0], consts)...)
			}
		}
		return true
	})
	return m
}

// literals returns the string literals in e, and the strings of the names it uses.
func literals(e ast.Expr, names map[string][]string) []string {
	var out []string
	ast.Inspect(e, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.BasicLit:
			if n.Kind == token.STRING {
				if s, err := strconv.Unquote(n.Value); err == nil {
					out = append(out, s)
				}
			}
		case *ast.Ident:
			out = append(out, names[n.Name]...)
		case *ast.CallExpr:
			if id, ok := n.Fun.(*ast.Ident); ok {
				out = append(out, names[id.Name+"()"]...)
			}
		}
		return true
	})
	return out
}

// returned returns the strings the return statements of body hand back.
func returned(body *ast.BlockStmt, names map[string][]string) []string {
	var out []string
	ast.Inspect(body, func(n ast.Node) bool {
		if _, ok := n.(*ast.FuncLit); ok {
			return false
		}
		if r, ok := n.(*ast.ReturnStmt); ok {
			for _, e := range r.Results {
				out = append(out, literals(e, names)...)
			}
		}
		return true
	})
	return out
}
