// Package fieldref writes the reference of a file format (the topology
// and scenario YAML) from the Go types that decode it: each field's path,
// type and doc comment, read from the source with go/parser. The
// packages' tests compare it with docs/ and fail when the docs are stale,
// so the reference cannot drift from the types.
package fieldref

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"strings"
)

// Package is the struct types of one Go package's source.
type Package struct {
	Dir    string
	types  map[string]*ast.TypeSpec
	docs   map[string]string   // a type's doc comment
	values map[string][]string // a type's string constants
}

// Parse reads the non-test Go files of dir.
func Parse(dir string) (*Package, error) {
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	p := &Package{Dir: dir, types: map[string]*ast.TypeSpec{}, docs: map[string]string{}, values: map[string][]string{}}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		af, err := parser.ParseFile(fset, f, src, parser.ParseComments)
		if err != nil {
			return nil, err
		}
		for _, d := range af.Decls {
			gd, ok := d.(*ast.GenDecl)
			if ok && gd.Tok == token.CONST {
				p.consts(gd)
			}
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, s := range gd.Specs {
				ts := s.(*ast.TypeSpec)
				p.types[ts.Name.Name] = ts
				doc := ts.Doc
				if doc == nil && len(gd.Specs) == 1 {
					doc = gd.Doc
				}
				p.docs[ts.Name.Name] = oneLine(doc.Text())
			}
		}
	}
	return p, nil
}

// consts records the string constants of named types: KindRouter
// NodeKind = "router".
func (p *Package) consts(gd *ast.GenDecl) {
	for _, s := range gd.Specs {
		vs := s.(*ast.ValueSpec)
		id, ok := vs.Type.(*ast.Ident)
		if !ok {
			continue
		}
		for _, v := range vs.Values {
			if lit, ok := v.(*ast.BasicLit); ok && lit.Kind == token.STRING && len(lit.Value) > 2 {
				p.values[id.Name] = append(p.values[id.Name], strings.Trim(lit.Value, "\"`"))
			}
		}
	}
}

// Doc is the doc comment of the type called name.
func (p *Package) Doc(name string) string { return p.docs[name] }

// Row is one field of the format.
type Row struct {
	Path string // nodes.NAME.ports.NAME.kind
	Type string
	Doc  string
}

// Walker walks types into rows.
type Walker struct {
	// Leaves name the types written as one value: "value.Switch" →
	// "Enabled or Disabled".
	Leaves map[string]string
	// Special expands a named type itself (a step's many kinds); it
	// returns false to walk the type as usual.
	Special func(w *Walker, p *Package, typeName, path string) bool
	Rows    []Row
	seen    map[string]bool
}

// Type walks the named struct type of p at path.
func (w *Walker) Type(p *Package, name, path string) {
	ts, ok := p.types[name]
	if !ok {
		panic(fmt.Sprintf("fieldref: no type %s in %s", name, p.Dir))
	}
	if w.Special != nil && w.Special(w, p, name, path) {
		return
	}
	st, ok := ts.Type.(*ast.StructType)
	if !ok {
		w.expr(p, ts.Type, path, "")
		return
	}
	for _, f := range st.Fields.List {
		tag := ""
		if f.Tag != nil {
			tag = strings.Trim(f.Tag.Value, "`")
		}
		names := f.Names
		if len(names) == 0 {
			names = []*ast.Ident{nil} // embedded
		}
		for _, n := range names {
			key, inline := fieldName(n, tag)
			if key == "-" {
				continue
			}
			doc := oneLine(f.Doc.Text() + " " + f.Comment.Text())
			if doc == "" && n != nil {
				doc = p.fallbackDoc(name, n.Name)
			}
			if inline {
				w.expr(p, f.Type, path, doc)
				continue
			}
			if key == "" {
				continue
			}
			fp := key
			if path != "" {
				fp = path + "." + key
			}
			w.expr(p, f.Type, fp, doc)
		}
	}
}

// fallbackDoc is the doc of the same field in the checked type a raw type
// becomes (rawLink → Link), else of that field's type, with the values the
// type's constants allow.
func (p *Package) fallbackDoc(typeName, field string) string {
	checked, ok := strings.CutPrefix(typeName, "raw")
	if !ok {
		return ""
	}
	ts, ok := p.types[checked]
	if !ok {
		return ""
	}
	st, ok := ts.Type.(*ast.StructType)
	if !ok {
		return ""
	}
	for _, g := range st.Fields.List {
		for _, n := range g.Names {
			if n.Name != field {
				continue
			}
			doc := oneLine(g.Doc.Text() + " " + g.Comment.Text())
			id, _ := g.Type.(*ast.Ident)
			if id == nil {
				return doc
			}
			if doc == "" {
				doc = p.docs[id.Name]
			}
			if vs := p.values[id.Name]; len(vs) > 0 {
				var nonEmpty []string
				for _, v := range vs {
					if v != "" {
						nonEmpty = append(nonEmpty, "`"+v+"`")
					}
				}
				doc = strings.TrimSpace(doc + " One of " + strings.Join(nonEmpty, ", ") + ".")
			}
			return doc
		}
	}
	return ""
}

// Note completes a row whose type has no doc comment: its meaning, and
// the format of a string value (duration, prefix…).
type Note struct{ Type, Doc string }

// Apply puts notes into the rows: a note's type and doc replace the
// row's. A note for a path no row has is an error
// (the field is gone: the note must go too).
func (w *Walker) Apply(notes map[string]Note) error {
	used := map[string]bool{}
	for i, r := range w.Rows {
		n, ok := notes[r.Path]
		if !ok {
			continue
		}
		used[r.Path] = true
		if n.Type != "" {
			w.Rows[i].Type = n.Type
		}
		if n.Doc != "" {
			w.Rows[i].Doc = n.Doc
		}
	}
	var gone []string
	for p := range notes {
		if !used[p] {
			gone = append(gone, p)
		}
	}
	if len(gone) > 0 {
		return fmt.Errorf("notes for fields that do not exist: %s", strings.Join(gone, ", "))
	}
	return nil
}

// Add adds a row.
func (w *Walker) Add(path, typ, doc string) {
	if w.seen == nil {
		w.seen = map[string]bool{}
	}
	if w.seen[path] {
		return
	}
	w.seen[path] = true
	w.Rows = append(w.Rows, Row{Path: path, Type: typ, Doc: doc})
}

func (w *Walker) expr(p *Package, e ast.Expr, path, doc string) {
	switch t := e.(type) {
	case *ast.StarExpr:
		w.expr(p, t.X, path, doc)
	case *ast.ArrayType:
		if id, ok := t.Elt.(*ast.Ident); ok && basic(id.Name) != "" {
			w.Add(path, "list of "+basic(id.Name)+"s", doc)
			return
		}
		w.Add(path, "list", doc)
		w.expr(p, t.Elt, path+"[]", "")
	case *ast.MapType:
		w.Add(path, "map by name", doc)
		w.expr(p, t.Value, path+".NAME", "")
	case *ast.SelectorExpr:
		name := t.X.(*ast.Ident).Name + "." + t.Sel.Name
		typ, ok := w.Leaves[name]
		if !ok {
			typ = name
		}
		w.Add(path, typ, doc)
	case *ast.Ident:
		if b := basic(t.Name); b != "" {
			if path != "" {
				w.Add(path, b, doc)
			}
			return
		}
		if l, ok := w.Leaves[t.Name]; ok {
			w.Add(path, l, doc)
			return
		}
		ts, ok := p.types[t.Name]
		if !ok {
			w.Add(path, t.Name, doc)
			return
		}
		if _, isStruct := ts.Type.(*ast.StructType); !isStruct {
			if w.Special != nil && w.Special(w, p, t.Name, path) {
				return
			}
			w.expr(p, ts.Type, path, firstNonEmpty(doc, p.docs[t.Name]))
			return
		}
		doc = firstNonEmpty(doc, p.docs[t.Name])
		// An item of a list or map is described by the list's row.
		if path != "" && !(doc == "" && (strings.HasSuffix(path, "[]") || strings.HasSuffix(path, ".NAME"))) {
			w.Add(path, "object", doc)
		}
		w.Type(p, t.Name, path)
	default:
		w.Add(path, fmt.Sprintf("%T", e), doc)
	}
}

// Struct walks a reflected struct type (an operation the scenario decodes
// by kind) with p's doc comments.
func (w *Walker) Struct(p *Package, t reflect.Type, path string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	w.Type(p, t.Name(), path)
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// fieldName is the YAML key of a field (n nil: embedded): its yaml tag,
// else its json tag (goccy/go-yaml reads both), else the name in lower
// case; and whether it is inlined.
func fieldName(n *ast.Ident, tag string) (string, bool) {
	st := reflect.StructTag(tag)
	v, ok := st.Lookup("yaml")
	if !ok {
		v, ok = st.Lookup("json")
	}
	name, opts, _ := strings.Cut(v, ",")
	inline := strings.Contains(opts, "inline") || n == nil
	switch {
	case ok && name != "":
		return name, inline
	case n == nil || !n.IsExported():
		return "", inline
	}
	return strings.ToLower(n.Name), inline
}

func basic(name string) string {
	switch name {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "int", "int64", "uint64", "uint32", "uint16", "uint8", "int32":
		return "integer"
	case "float64":
		return "number"
	}
	return ""
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Markdown writes rows as a table.
func Markdown(rows []Row) string {
	var b strings.Builder
	b.WriteString("| field | type | meaning |\n|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", r.Path, r.Type, strings.ReplaceAll(r.Doc, "|", `\|`))
	}
	return b.String()
}

// Fataler is testing.TB's Fatalf.
type Fataler interface {
	Fatalf(format string, args ...any)
}

// RequireSame fails t with msg and the first line that differs when the
// generated reference is not the file's.
func RequireSame(t Fataler, generated, file, msg string) {
	if generated == file {
		return
	}
	g, f := strings.Split(generated, "\n"), strings.Split(file, "\n")
	for i := 0; ; i++ {
		if i >= len(g) || i >= len(f) || g[i] != f[i] {
			var gl, fl string
			if i < len(g) {
				gl = g[i]
			}
			if i < len(f) {
				fl = f[i]
			}
			t.Fatalf("%s; line %d:\n  generated: %s\n  file:      %s", msg, i+1, gl, fl)
			return
		}
	}
}
