package bump

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var fuzzTargets = [][]Target{
	{{Image: "nginx", Tag: "1.27.3"}},
	{{Image: "harbor.example/team/api", Tag: "1a2b3c4d"}},
	{{Image: "image", Tag: "12345e67"}},
	{{Image: "10.0.0.1:5000/app", Tag: "v2"}, {Image: "redis", Tag: "8"}},
	{{Image: "nginx", Tag: "2", Key: "image.tag"}},
	{{Image: "nginx", Tag: "3", Digest: "sha256:" + strings.Repeat("c", 64)}},
}

var fuzzKinds = []Kind{KindAuto, KindKustomize, KindHelm, KindManifest}

// FuzzRewrite checks, for any input, that Rewrite either fails or returns an output that parses,
// is a fixed point, and differs from the input only inside the tag spans it reports: every
// removed byte sequence is part of the old tag (or digest), on one line.
//
//	go test ./bump -run '^$' -fuzz FuzzRewrite -fuzztime 60s
func FuzzRewrite(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*/input/*")
	shared, _ := filepath.Glob("../../shared/corpus/bump/cases/*/input.yaml")
	for _, p := range append(seeds, shared...) {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b, uint8(0))
			f.Add(b, uint8(7))
		}
	}
	f.Add([]byte("image:\n  repository: nginx\n  tag: 1.0\n"), uint8(2))
	f.Add([]byte("images:\n- name: nginx\n  newTag: v1\n"), uint8(4))
	f.Add([]byte("containers: [{image: nginx}]\n"), uint8(12))
	f.Fuzz(func(t *testing.T, in []byte, sel uint8) {
		targets, err := prepareAll(fuzzTargets[int(sel)%len(fuzzTargets)])
		if err != nil {
			t.Fatal(err)
		}
		kind := fuzzKinds[int(sel)/len(fuzzTargets)%len(fuzzKinds)]
		r, k, err := match("f.yaml", in, kind, targets)
		if err != nil {
			return
		}
		out, _, err := r.apply()
		if err != nil {
			t.Fatalf("apply() = %v", err)
		}
		// Reconstruct the output from the edits and check each one.
		var rebuilt bytes.Buffer
		pos := 0
		for _, e := range r.edits {
			if e.start < pos {
				continue // a duplicate of the previous edit, skipped by apply
			}
			removed := string(in[e.start:e.end])
			if strings.ContainsAny(removed, "\r\n") || !strings.Contains(e.change.From, removed) {
				t.Fatalf("edit at %d removes %q, outside the old value %q", e.start, removed, e.change.From)
			}
			// Inserted text is a piece of the new value (":tag" for an untagged image), or a whole
			// new "key: value" that contains it.
			if !strings.Contains(":"+e.change.To, strings.Trim(e.text, `"`)) && !strings.Contains(e.text, e.change.To) {
				t.Fatalf("edit text %q is not part of the new value %q", e.text, e.change.To)
			}
			rebuilt.Write(in[pos:e.start])
			rebuilt.WriteString(e.text)
			pos = e.end
		}
		rebuilt.Write(in[pos:])
		if !bytes.Equal(rebuilt.Bytes(), out) {
			t.Fatalf("output is not the input with the reported edits")
		}
		if len(r.edits) == 0 {
			return
		}
		if _, err := parseSource(out); err != nil {
			t.Fatalf("output does not parse: %v\n%s", err, out)
		}
		again, _, err := match("f.yaml", out, k, targets)
		if err != nil || len(again.edits) != 0 {
			t.Fatalf("output is not a fixed point: %v, %d edits\n%s", err, len(again.edits), out)
		}
	})
}
