// Package yamltest builds hostile YAML for tests: billion-laughs alias bombs.
package yamltest

import (
	"fmt"
	"strings"
)

// Laughs is a billion-laughs mapping, each line indented by indent: a list of 9 scalars (a0),
// then depth lists of 9 aliases of the list before. Each level is 48 bytes; the aliases expand
// to LaughsNodes(depth) nodes. Uncaught, krusty spends 5.7 s and 258 MB on depth 5 and
// exhausts 24 GB on depth 7: tests use depth 5 at most, so a broken check fails the test, not
// the machine.
func Laughs(indent string, depth int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%sa0: &a0 [x,x,x,x,x,x,x,x,x]\n", indent)
	for i := 1; i <= depth; i++ {
		p := fmt.Sprintf("*a%d", i-1)
		fmt.Fprintf(&b, "%sa%d: &a%d [%s]\n", indent, i, i, strings.Repeat(p+",", 8)+p)
	}
	return b.String()
}

// LaughsNodes is what the aliases of Laughs(depth) expand to: level i is a list of 9 copies of
// level i-1 (size s(i) = 1 + 9 s(i-1), s(0) = 10), each copy added by an alias.
func LaughsNodes(depth int) int64 {
	size, extra := int64(10), int64(0)
	for range depth {
		extra += 9 * size
		size = 1 + 9*size
	}
	return extra
}
