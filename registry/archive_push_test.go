package registry_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tagrelay/tagrelay/internal/regtest"
	"github.com/tagrelay/tagrelay/registry"
)

// The most common OCI archive, `tar -C layout -cf x.tar .` (entries ./, ./oci-layout,
// ./blobs/…), made by the system's tar in each of its formats, pushes to a ggcr registry with
// the index digest of the layout.
func TestPushOCIArchiveMadeWithTar(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("tar"); err != nil {
		t.Fatalf("tar (Debian's essential package) is not installed: %v", err)
	}
	srv := regtest.New(t)
	idx := regtest.Index(t, 512, 2, "linux/amd64", "linux/arm64")
	want := digest(t, idx)
	layout := regtest.Layout(t, idx)
	for _, format := range []string{"gnu", "pax", "ustar"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			x := filepath.Join(t.TempDir(), "x.tar")
			if out, err := exec.Command("tar", "--format="+format, "-C", layout, "-cf", x, ".").CombinedOutput(); err != nil {
				t.Fatalf("tar: %v\n%s", err, out)
			}
			if list, err := exec.Command("tar", "-tf", x).Output(); err != nil || !strings.HasPrefix(string(list), "./\n") || !strings.Contains(string(list), "./oci-layout\n") {
				t.Fatalf("tar -tf %s = %q, %v; want ./ first and ./oci-layout", x, list, err)
			}
			c := newClient(t, srv)
			src := openSource(t, c, x)
			if src.Kind != registry.SourceOCIArchive || src.Digest() != want {
				t.Fatalf("OpenSource(%s) = %s %s, want %s %s", x, src.Kind, src.Digest(), registry.SourceOCIArchive, want)
			}
			res, err := c.Push(context.Background(), src, srv.Host+"/team/"+format, []string{"1a2b3c4d"})
			if err != nil {
				t.Fatalf("Push() = %v", err)
			}
			if got := srv.Digest(t, "team/"+format+":1a2b3c4d"); res.Digest != want || got != want {
				t.Errorf("Push().Digest = %s, registry has %s; want %s", res.Digest, got, want)
			}
		})
	}
}

// A hostile OCI archive is an invalid source (exit 2) with a one-line message naming the
// entry; nothing of it stays in TMPDIR and nothing lands next to it.
func TestOpenSourceRefusesHostileArchive(t *testing.T) {
	parent := t.TempDir()
	tmp := filepath.Join(parent, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", tmp)
	for _, tc := range []struct {
		name  string
		entry *tar.Header
		want  string
	}{
		{"traversal", &tar.Header{Name: "../../evil", Typeflag: tar.TypeReg, Mode: 0o644}, `entry "../../evil" leaves the archive`},
		{"symlink", &tar.Header{Name: "./blobs", Typeflag: tar.TypeSymlink, Linkname: "/etc"}, `entry "./blobs" is a symbolic link`},
		{"device", &tar.Header{Name: "./index.json", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}, `entry "./index.json" is a device`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := filepath.Join(parent, tc.name+".tar")
			writeTar(t, x, &tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755},
				&tar.Header{Name: "./oci-layout", Typeflag: tar.TypeReg, Mode: 0o644}, tc.entry)
			c := newClient(t, regtest.New(t))
			for _, s := range []string{x, "oci-archive:" + x} {
				_, err := c.OpenSource(context.Background(), s)
				if !errors.Is(err, registry.ErrInvalidSource) || !strings.Contains(err.Error(), x+": "+tc.want) {
					t.Errorf("OpenSource(%s) = %v, want ErrInvalidSource with %q", s, err, tc.want)
				}
			}
			if left, _ := os.ReadDir(tmp); len(left) != 0 {
				t.Errorf("TMPDIR holds %v after the refused archive", left)
			}
			if _, err := os.Lstat(filepath.Join(parent, "evil")); err == nil {
				t.Errorf("the archive wrote %s", filepath.Join(parent, "evil"))
			}
		})
	}
}

// writeTar writes a tar of empty entries to dst.
func writeTar(t *testing.T, dst string, hdrs ...*tar.Header) {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range hdrs {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
