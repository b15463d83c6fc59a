package render_test

import (
	"bytes"
	"testing"

	"github.com/tagrelay/tagrelay/internal/yamltest"
	"github.com/tagrelay/tagrelay/reconcile/render"
)

func TestAliasNodes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		yaml  string
		limit int64
		want  int64
	}{
		{"no alias", "a: [1, 2, 3]\nb: {c: d}\n", 100, 0},
		{"a star that is no alias", "a: '*'\nb: \"x*y\"\n", 100, 0},
		{"one alias of a list", "a: &x [1, 2, 3]\nb: *x\n", 100, 4},
		{"a merge key", "base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  z: 3\n", 100, 5},
		{"every document", "a: &x [1]\nb: *x\n---\na: &y [1, 2]\nb: *y\n", 100, 5},
		{"laughs 3", yamltest.Laughs("", 3), 1 << 40, yamltest.LaughsNodes(3)},
		{"laughs 7 stops at the limit", yamltest.Laughs("", 7), 10000, 10001},
		{"YAML in a string (an inline patch)", "patches:\n- patch: |-\n    a: &x [1, 2]\n    b: *x\n", 100, 3},
		{"laughs in a string", "patches:\n- patch: |-\n" + yamltest.Laughs("    ", 6), 10000, 10001},
		{"an alias of its own ancestor expands without end", "a: &a [1, *a]\n", 100, 101},
		{"syntax error after an alias", "a: &x [1, 2]\nb: *x\nc: [oops\n", 100, 0},
		{"not YAML", "\x00\x01*\xff", 100, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := render.AliasNodes([]byte(tc.yaml), tc.limit); got != tc.want {
				t.Errorf("AliasNodes(%q, %d) = %d, want %d", tc.yaml, tc.limit, got, tc.want)
			}
		})
	}
}

// FuzzAliasNodes: the pre-check never panics, stays within limit+1, and saturates
// consistently: a lower limit gives min(count, limit+1).
func FuzzAliasNodes(f *testing.F) {
	f.Add([]byte(yamltest.Laughs("", 4)), int64(1000))
	f.Add([]byte("a: &x [1, 2, 3]\nb: *x\nc: {<<: *x}\n"), int64(5))
	f.Add([]byte("p: |\n  a: &y [1]\n  b: *y\n"), int64(100))
	f.Add([]byte("a: &a [*a]\n"), int64(10))
	f.Fuzz(func(t *testing.T, data []byte, limit int64) {
		if limit < 0 || limit > 1<<20 {
			return
		}
		full := render.AliasNodes(data, 1<<30)
		got := render.AliasNodes(data, limit)
		if got > limit+1 || got != min(full, limit+1) {
			t.Fatalf("AliasNodes(limit %d) = %d, with a high limit %d", limit, got, full)
		}
		if !bytes.Contains(data, []byte("*")) && full != 0 {
			t.Fatalf("AliasNodes() = %d for a stream without aliases", full)
		}
	})
}
