package mirror

import (
	"strings"
	"testing"
)

func TestParseLFSPointer(t *testing.T) {
	t.Parallel()
	oid := strings.Repeat("ab", 32)
	tests := []struct {
		name string
		in   string
		ok   bool
		size int64
	}{
		{"pointer", "version https://git-lfs.github.com/spec/v1\noid sha256:" + oid + "\nsize 12345\n", true, 12345},
		{"old version line", "version https://hawser.github.com/spec/v1\noid sha256:" + oid + "\nsize 0\n", true, 0},
		{"extension", "version https://git-lfs.github.com/spec/v1\next-0-foo sha256:" + oid + "\noid sha256:" + oid + "\nsize 7\n", true, 7},
		{"no final newline", "version https://git-lfs.github.com/spec/v1\noid sha256:" + oid + "\nsize 7", false, 0},
		{"short oid", "version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 7\n", false, 0},
		{"upper-case oid", "version https://git-lfs.github.com/spec/v1\noid sha256:" + strings.ToUpper(oid) + "\nsize 7\n", false, 0},
		{"negative size", "version https://git-lfs.github.com/spec/v1\noid sha256:" + oid + "\nsize -1\n", false, 0},
		{"padded size", "version https://git-lfs.github.com/spec/v1\noid sha256:" + oid + "\nsize 007\n", false, 0},
		{"unknown key", "version https://git-lfs.github.com/spec/v1\noid sha256:" + oid + "\nsize 7\nowner me\n", false, 0},
		{"text file", "# README\nversion https://git-lfs.github.com/spec/v1\n", false, 0},
	}
	for _, tc := range tests {
		p, ok := parseLFSPointer([]byte(tc.in))
		if ok != tc.ok || (ok && (p.OID != oid || p.Size != tc.size)) {
			t.Errorf("%s: parseLFSPointer() = %+v, %v; want ok=%v size %d", tc.name, p, ok, tc.ok, tc.size)
		}
	}
}

func TestLFSEndpoint(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://gitlab.internal/g/app.git":  "https://gitlab.internal/g/app.git/info/lfs",
		"https://gitlab.internal/g/app":      "https://gitlab.internal/g/app.git/info/lfs",
		"https://gitlab.internal/g/app.git/": "https://gitlab.internal/g/app.git/info/lfs",
	} {
		if got := lfsEndpoint(in); got != want {
			t.Errorf("lfsEndpoint(%q) = %q, want %q", in, got, want)
		}
	}
}
