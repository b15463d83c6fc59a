package render

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// ErrAliasBomb: a file's YAML aliases expand to more nodes than the app's limit (billion laughs).
// kyaml (Kustomize) expands aliases without any limit: measured, a 330-byte resource with
// 9-element alias lists nested 5 deep costs krusty 5.7 s and 258 MB, 7 deep exhausts 24 GB.
var ErrAliasBomb = errors.New("YAML aliases refused")

// maxEmbeddedDepth is how deep YAML embedded in string scalars is checked (a kustomization's
// inline patch, a values file's YAML string): Kustomize parses inline patches as YAML.
const maxEmbeddedDepth = 2

// AliasNodes returns how many nodes the aliases of a YAML stream expand to: the nodes a parser
// that resolves aliases builds beyond those written in the file, counting YAML embedded in
// multi-line strings too. It parses into yaml.v3 nodes, which keeps aliases as references, so
// the cost is linear in the input whatever the expansion. Counting stops once limit is passed
// (the result is then limit+1). Input that is not YAML counts up to its first syntax error:
// what a parser would have built before failing.
func AliasNodes(data []byte, limit int64) int64 {
	return aliasNodes(data, limit, 0)
}

func aliasNodes(data []byte, limit int64, depth int) int64 {
	if !bytes.Contains(data, []byte("*")) {
		return 0 // no alias: skip the parse (the common case)
	}
	c := &aliasCounter{limit: limit, depth: depth, size: map[*yaml.Node]int64{}, extra: map[*yaml.Node]int64{}}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var total int64
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); err != nil {
			return total // io.EOF or a syntax error: nothing more would be built
		}
		total = c.add(total, c.extraOf(&doc))
		if total > limit {
			return limit + 1
		}
	}
}

// aliasCounter memoises per node: size is the number of nodes a subtree expands to, extra the
// part of it that aliases add. Both saturate at limit+1, so the counts never overflow.
type aliasCounter struct {
	limit       int64
	depth       int
	size, extra map[*yaml.Node]int64
	visiting    []*yaml.Node // the path being expanded: an alias to an ancestor is a cycle
}

func (c *aliasCounter) add(a, b int64) int64 {
	if s := a + b; s <= c.limit && s >= 0 {
		return s
	}
	return c.limit + 1
}

func (c *aliasCounter) cycle(n *yaml.Node) bool {
	for _, v := range c.visiting {
		if v == n {
			return true
		}
	}
	return false
}

// sizeOf is the number of nodes n expands to, aliases resolved.
func (c *aliasCounter) sizeOf(n *yaml.Node) int64 {
	if n == nil {
		return 0
	}
	if s, ok := c.size[n]; ok {
		return s
	}
	if c.cycle(n) {
		return c.limit + 1 // an alias to its own ancestor expands without end
	}
	c.visiting = append(c.visiting, n)
	var s int64
	if n.Kind == yaml.AliasNode {
		s = c.sizeOf(n.Alias)
	} else {
		s = c.add(1, c.embedded(n))
		for _, ch := range n.Content {
			if s = c.add(s, c.sizeOf(ch)); s > c.limit {
				break
			}
		}
	}
	c.visiting = c.visiting[:len(c.visiting)-1]
	c.size[n] = s
	return s
}

// extraOf is the number of nodes the aliases below n add.
func (c *aliasCounter) extraOf(n *yaml.Node) int64 {
	if n == nil {
		return 0
	}
	if e, ok := c.extra[n]; ok {
		return e
	}
	var e int64
	if n.Kind == yaml.AliasNode {
		e = c.sizeOf(n.Alias)
	} else {
		e = c.embedded(n)
		for _, ch := range n.Content {
			if e = c.add(e, c.extraOf(ch)); e > c.limit {
				break
			}
		}
	}
	c.extra[n] = e
	return e
}

// embedded counts the aliases of YAML held in a multi-line string scalar.
func (c *aliasCounter) embedded(n *yaml.Node) int64 {
	if n.Kind != yaml.ScalarNode || c.depth >= maxEmbeddedDepth || !strings.Contains(n.Value, "\n") || !strings.Contains(n.Value, "*") {
		return 0
	}
	return aliasNodes([]byte(n.Value), c.limit, c.depth+1)
}

// aliasBudget bounds the alias expansion of one render: every file that reaches a parser is
// counted first, and the render is refused once the sum passes the limit.
type aliasBudget struct {
	limit int64
	mu    sync.Mutex
	used  int64
	seen  map[[sha256.Size]byte]bool // path and content: a file read twice is counted once
}

func newAliasBudget(limit int64) *aliasBudget {
	return &aliasBudget{limit: limit, seen: map[[sha256.Size]byte]bool{}}
}

// check counts the aliases of the file name and refuses it when the render's total passes the
// limit. The error names the file and its count.
func (b *aliasBudget) check(name string, data []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	h := sha256.New()
	h.Write([]byte(name + "\x00"))
	h.Write(data)
	var key [sha256.Size]byte
	h.Sum(key[:0])
	if b.seen[key] {
		return nil
	}
	b.seen[key] = true
	n := AliasNodes(data, b.limit-b.used)
	b.used += n
	if b.used <= b.limit {
		return nil
	}
	count := fmt.Sprintf("%d nodes", n)
	if n > b.limit-(b.used-n) {
		count = fmt.Sprintf("more than %d nodes", b.limit-(b.used-n))
	}
	if b.used-n > 0 {
		count += fmt.Sprintf(" (after %d from other files)", b.used-n)
	}
	return &LimitError{Err: ErrAliasBomb, File: name, Detail: fmt.Sprintf("its YAML aliases expand to %s; the limit is %d", count, b.limit)}
}
