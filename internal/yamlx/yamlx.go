// Package yamlx decodes YAML files in strict mode and reports problems by
// file, line and field path (e.g. links[0].macsec.cipher), also problems
// found after decoding, by the checks of the package that reads the file.
package yamlx

import (
	"cmp"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// Error is one problem in a YAML file, located by line and by field
// path (e.g. links[0].macsec.cipher). Load and Parse return several of them
// are joined with errors.Join; use errors.As to get the first.
type Error struct {
	File  string
	Line  int // 0 when unknown
	Field string
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Doc is a decoded file: it locates field paths for later checks and
// collects their problems.
type Doc struct {
	File string
	pos  *positions
	errs []*Error
}

// Decode decodes the single YAML document in data into v, strictly: an
// unknown field is an error with its line.
func Decode(file string, data []byte, v any) (*Doc, error) {
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, yamlError(file, nil, err)
	}
	if len(f.Docs) != 1 || f.Docs[0].Body == nil {
		n, line := countDocs(f)
		return nil, &Error{File: file, Line: line, Msg: fmt.Sprintf("want exactly one YAML document, found %d", n)}
	}
	body := f.Docs[0].Body
	pos := indexPositions(body)
	// secylab's files use no tags, and go-yaml's decoder panics on some
	// (found by the topology and scenario fuzz targets: "addresses: !00"
	// before a mapping).
	if tags := ast.Filter(ast.TagType, body); len(tags) > 0 {
		tk := tags[0].GetToken()
		return nil, &Error{File: file, Line: tk.Position.Line, Field: pos.byToken[posKey(tk)],
			Msg: fmt.Sprintf("tag %.20q: YAML tags (!…) are not used in secylab files", tk.Value)}
	}
	d := &Doc{File: file, pos: pos}
	// Every unknown field is an error, not only the first: each found is
	// recorded and removed, and the decoding goes on, so that the checks
	// after it report the rest of the file's problems too.
	for range 100 {
		err := nodeToValue(body, v)
		if err == nil {
			return d, nil
		}
		var ue *yaml.UnknownFieldError
		if !errors.As(err, &ue) || ue.GetToken() == nil || !removeField(body, ue.GetToken()) {
			return nil, errors.Join(append(d.joined(), yamlError(file, pos, err))...)
		}
		d.errs = append(d.errs, yamlError(file, pos, err).(*Error))
		if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && !rv.IsNil() {
			rv.Elem().SetZero()
		}
	}
	return nil, errors.Join(append(d.joined(), &Error{File: file, Line: 1, Msg: "too many unknown fields"})...)
}

// removeField deletes, from the mapping that holds it, the field whose key
// or value is at tk; false when there is no such field.
func removeField(root ast.Node, tk *token.Token) bool {
	at := posKey(tk)
	found := false
	ast.Walk(visitFunc(func(n ast.Node) {
		m, ok := n.(*ast.MappingNode)
		if !ok || found {
			return
		}
		for i, mv := range m.Values {
			if k, v := mv.Key.GetToken(), mv.Value.GetToken(); k != nil && posKey(k) == at || v != nil && posKey(v) == at {
				m.Values = append(m.Values[:i], m.Values[i+1:]...)
				found = true
				return
			}
		}
	}), root)
	return found
}

type visitFunc func(ast.Node)

func (f visitFunc) Visit(n ast.Node) ast.Visitor {
	if n != nil {
		f(n)
	}
	return f
}

// joined is the problems recorded so far, as errors.
func (d *Doc) joined() []error {
	errs := make([]error, len(d.errs))
	for i, e := range d.errs {
		errs[i] = e
	}
	return errs
}

// nodeToValue is go-yaml's NodeToValue, strict, with a panic of the
// library turned into an error at the document's first line: a file must
// never crash the program that reads it.
func nodeToValue(n ast.Node, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &nodeError{tk: n.GetToken(), msg: fmt.Sprintf("the YAML decoder failed on this file (%v)", r)}
		}
	}()
	return yaml.NodeToValue(n, v, yaml.Strict())
}

// Errorf records a problem with the field at path (reported at its line, or
// its nearest ancestor's when the field is missing).
func (d *Doc) Errorf(path, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.File, Line: d.pos.lineOf(path), Field: path, Msg: fmt.Sprintf(format, args...)})
}

// Unlocated returns the first of the problems joined in err that is not
// an *Error of file with a line, or nil: the promise of Decode and
// Doc.Err, which the fuzz targets of the packages that read YAML check.
func Unlocated(err error, file string) error {
	if err == nil {
		return nil
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		var ye *Error
		if !errors.As(e, &ye) || ye.File != file || ye.Line < 1 {
			return e
		}
	}
	return nil
}

// Notef formats a remark on the field at path the way an Error reads
// (file:line: field: message), for a warning that does not refuse the file.
func (d *Doc) Notef(path, format string, args ...any) string {
	e := &Error{File: d.File, Line: d.pos.lineOf(path), Field: path, Msg: fmt.Sprintf(format, args...)}
	return e.Error()
}

// Err joins the problems recorded, in file order, or returns nil.
func (d *Doc) Err() error {
	if len(d.errs) == 0 {
		return nil
	}
	slices.SortStableFunc(d.errs, func(a, b *Error) int { return cmp.Compare(a.Line, b.Line) })
	errs := make([]error, len(d.errs))
	for i, e := range d.errs {
		errs[i] = e
	}
	return errors.Join(errs...)
}

// countDocs counts the documents with a body and returns the line of the
// second one (where a file of one document goes wrong), or 1.
func countDocs(f *ast.File) (n, line int) {
	line = 1
	for _, d := range f.Docs {
		if d.Body == nil {
			continue
		}
		if n++; n == 2 {
			if tk := d.Body.GetToken(); tk != nil {
				line = tk.Position.Line
			}
			if d.Start != nil {
				line = d.Start.Position.Line
			}
		}
	}
	return n, line
}

// yamlError turns a go-yaml error into an *Error with the field path of its
// token when the index knows it.
func yamlError(file string, pos *positions, err error) error {
	var ye yaml.Error
	if !errors.As(err, &ye) || ye.GetToken() == nil {
		return &Error{File: file, Msg: err.Error()}
	}
	tk := ye.GetToken()
	e := &Error{File: file, Line: tk.Position.Line, Msg: ye.GetMessage()}
	if pos != nil {
		e.Field = pos.byToken[posKey(tk)]
	}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		e.Msg = fmt.Sprintf("%q is not %s", tk.Value, describeType(te.DstType))
		if tk.Value == ":" {
			// go-yaml reads node:port inside a {…} flow mapping as a key.
			e.Msg += `; inside {…} quote values that hold a colon, e.g. "ce1:er1"`
		}
	}
	var ue *yaml.UnknownFieldError
	if errors.As(err, &ue) {
		e.Msg = "unknown field (check the spelling; fields are case-sensitive)"
	}
	return e
}

func describeType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Uint8, reflect.Uint16, reflect.Uint32:
		return "an integer"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	case reflect.Pointer:
		return describeType(t.Elem())
	}
	return t.String()
}

// positions maps field paths (nodes.ce1.ports.er1.kind, links[0].endpoints[1])
// to lines, and token positions back to paths, so that semantic errors found
// after decoding still point into the file.
type positions struct {
	line    map[string]int
	byToken map[[2]int]string
}

func posKey(tk *token.Token) [2]int { return [2]int{tk.Position.Line, tk.Position.Column} }

func indexPositions(root ast.Node) *positions {
	p := &positions{line: map[string]int{}, byToken: map[[2]int]string{}}
	p.walk("", root)
	return p
}

func (p *positions) walk(path string, n ast.Node) {
	if n == nil || reflect.ValueOf(n).IsNil() {
		return
	}
	if tk := n.GetToken(); tk != nil {
		p.byToken[posKey(tk)] = path // deeper paths overwrite below
	}
	switch n := n.(type) {
	case *ast.MappingNode:
		for _, mv := range n.Values {
			p.walk(path, mv)
		}
	case *ast.MappingValueNode:
		key := n.Key.GetToken()
		if key == nil {
			return
		}
		child := key.Value
		if path != "" {
			child = path + "." + key.Value
		}
		p.line[child] = key.Position.Line
		p.walk(child, n.Value)
		p.byToken[posKey(key)] = child
	case *ast.SequenceNode:
		for i, v := range n.Values {
			child := fmt.Sprintf("%s[%d]", path, i)
			if tk := v.GetToken(); tk != nil {
				p.line[child] = tk.Position.Line
			}
			p.walk(child, v)
		}
	case *ast.TagNode:
		p.walk(path, n.Value)
	case *ast.AnchorNode:
		p.walk(path, n.Value)
	}
}

// lineOf returns the line of path, or of its nearest ancestor in the file
// (a missing field is reported where its parent is).
func (p *positions) lineOf(path string) int {
	for path != "" {
		if l, ok := p.line[path]; ok {
			return l
		}
		i := max(strings.LastIndexByte(path, '.'), strings.LastIndexByte(path, '['))
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 1
}

// Scalar hands a scalar node's text to parse, for a type's UnmarshalYAML
// (goccy's NodeUnmarshaler): a refusal keeps the node's line and field.
func Scalar(n ast.Node, parse func(string) error) error {
	var s string
	switch v := n.(type) {
	case *ast.StringNode:
		s = v.Value
	case ast.ScalarNode:
		s = v.GetToken().Value
	default:
		return &nodeError{tk: n.GetToken(), msg: "want a single value, not " + n.Type().String()}
	}
	if err := parse(s); err != nil {
		return &nodeError{tk: n.GetToken(), msg: err.Error()}
	}
	return nil
}

// nodeError is a refusal located at a token, like go-yaml's own errors.
type nodeError struct {
	tk  *token.Token
	msg string
}

func (e *nodeError) Error() string                 { return e.msg }
func (e *nodeError) GetToken() *token.Token        { return e.tk }
func (e *nodeError) GetMessage() string            { return e.msg }
func (e *nodeError) FormatError(bool, bool) string { return e.msg }

// DecodeNode decodes one node of the file into v, strictly, recording any
// problem with its line and field; it reports whether v was decoded.
func (d *Doc) DecodeNode(n ast.Node, v any) bool {
	if err := yaml.NodeToValue(n, v, yaml.Strict()); err != nil {
		var e *Error
		if errors.As(yamlError(d.File, d.pos, err), &e) {
			d.errs = append(d.errs, e)
		}
		return false
	}
	return true
}
