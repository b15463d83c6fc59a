package bump

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	yamlv3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// source is a YAML file as bytes, with what is needed to turn the line/column marks of parsed
// nodes back into byte offsets. Every rewrite is a list of splices on these bytes: nothing is ever
// re-serialised, so comments, quoting, indentation, CRLF and a missing final newline survive.
type source struct {
	b         []byte
	lineStart []int // byte offset of the start of each line; line N is lineStart[N-1]
	docs      []*yaml.Node
}

func parseSource(b []byte) (*source, error) {
	s := &source{b: b, lineStart: []int{0}}
	for i, c := range b {
		if c == '\n' {
			s.lineStart = append(s.lineStart, i+1)
		}
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("parsing YAML: %w", err)
		}
		s.docs = append(s.docs, &doc)
	}
	return s, nil
}

// offset converts a node's 1-based line and column (counted in characters) to a byte offset.
func (s *source) offset(n *yaml.Node) (int, bool) {
	if n.Line < 1 || n.Line > len(s.lineStart) || n.Column < 1 {
		return 0, false
	}
	off := s.lineStart[n.Line-1]
	for col := 1; col < n.Column; col++ {
		if off >= len(s.b) || s.b[off] == '\n' {
			return 0, false
		}
		_, size := utf8.DecodeRune(s.b[off:])
		off += size
	}
	return off, true
}

// span is the byte range of a scalar's value inside the file: for quoted scalars, between the
// quotes.
type span struct {
	start, end int
	quote      byte // 0, '"' or '\''
}

// errUnsupportedScalar is returned for scalars whose written form is not their value (escapes,
// block styles, multi-line plain scalars): rewriting their bytes safely is not possible.
type errUnsupportedScalar struct {
	line  int
	value string
	why   string
}

func (e *errUnsupportedScalar) Error() string {
	return fmt.Sprintf("line %d: cannot rewrite %q in place: %s", e.line, e.value, e.why)
}

// scalarSpan locates the bytes of a scalar value and checks that they spell its value exactly.
func (s *source) scalarSpan(n *yaml.Node) (span, error) {
	unsupported := func(why string) (span, error) {
		return span{}, &errUnsupportedScalar{line: n.Line, value: n.Value, why: why}
	}
	if n.Kind != yaml.ScalarNode {
		return unsupported("not a scalar")
	}
	if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return unsupported("block scalar")
	}
	if strings.ContainsAny(n.Value, "\n\r") {
		return unsupported("multi-line value")
	}
	off, ok := s.offset(n)
	if !ok {
		return unsupported("position out of range")
	}
	sp := span{start: off}
	switch {
	case n.Style&yaml.DoubleQuotedStyle != 0:
		sp.quote = '"'
	case n.Style&yaml.SingleQuotedStyle != 0:
		sp.quote = '\''
	}
	if sp.quote != 0 {
		if off >= len(s.b) || s.b[off] != sp.quote {
			return unsupported("quote not found at its position")
		}
		sp.start++
	}
	sp.end = sp.start + len(n.Value)
	if sp.end > len(s.b) || string(s.b[sp.start:sp.end]) != n.Value {
		return unsupported("written with escapes")
	}
	if sp.quote != 0 && (sp.end >= len(s.b) || s.b[sp.end] != sp.quote) {
		return unsupported("written with escapes")
	}
	return sp, nil
}

// lineEnd returns the offset of the end of the line containing off (the '\n', or len(b)) and the
// line break used by that line ("\n", "\r\n", or the file's first break for a final line without one).
func (s *source) lineEnd(off int) (end int, eol string) {
	i := bytes.IndexByte(s.b[off:], '\n')
	if i < 0 {
		return len(s.b), s.firstEOL()
	}
	end = off + i
	if end > 0 && s.b[end-1] == '\r' {
		return end + 1, "\r\n"
	}
	return end + 1, "\n"
}

func (s *source) firstEOL() string {
	if i := bytes.IndexByte(s.b, '\n'); i > 0 && s.b[i-1] == '\r' {
		return "\r\n"
	}
	return "\n"
}

// needsQuotes reports whether a plain scalar v would not read back as a string: a YAML 1.1 parser
// (Helm's, the API server's) or a YAML 1.2 one (kustomize's) would see a number, bool or null.
// A commit SHA such as 1234e567 is a float to both.
func needsQuotes(v string) bool {
	if v == "" || yaml.IsValueNonString(v) {
		return true
	}
	var x any
	if err := yamlv3.Unmarshal([]byte(v), &x); err != nil {
		return true
	}
	str, ok := x.(string)
	return !ok || str != v
}

// mapValue returns the value node of key in mapping m, and its key node.
func mapValue(m *yaml.Node, key string) (k, v *yaml.Node) {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key && m.Content[i].Kind == yaml.ScalarNode {
			return m.Content[i], m.Content[i+1]
		}
	}
	return nil, nil
}

// scalarValue returns the string value of key in m, or "" when absent or not a scalar.
func scalarValue(m *yaml.Node, key string) string {
	_, v := mapValue(m, key)
	if v == nil || v.Kind != yaml.ScalarNode {
		return ""
	}
	return v.Value
}

// walk calls f for n and every node below it, with the key under which each node sits ("" for
// sequence items and documents). Aliases are not followed: editing through an alias would change
// every other user of the anchor.
func walk(n *yaml.Node, key string, f func(n *yaml.Node, key string)) {
	f(n, key)
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			walk(c, "", f)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			walk(n.Content[i+1], n.Content[i].Value, f)
		}
	}
}
