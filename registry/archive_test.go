package registry

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// entry is one tar entry for the archives these tests write.
type entry struct {
	hdr  tar.Header
	body string
}

func file(name, body string) entry {
	return entry{tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))}, body}
}

func dir(name string) entry {
	return entry{hdr: tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755}}
}

func special(name string, flag byte, link string) entry {
	return entry{hdr: tar.Header{Name: name, Typeflag: flag, Linkname: link, Mode: 0o644}}
}

// archive writes entries as a tar in format.
func archive(t testing.TB, format tar.Format, entries ...entry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		h := e.hdr
		h.Format = format
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("writing %s: %v", h.Name, err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// dotLayout is an OCI layout as `tar -C layout -cf x.tar .` lists it: the root "./" first,
// every name "./"-prefixed, directories as entries of their own.
func dotLayout(t testing.TB, format tar.Format) []byte {
	return archive(t, format, dir("./"), dir("./blobs/"), dir("./blobs/sha256/"),
		file("./blobs/sha256/"+strings.Repeat("ab", 32), "{}"),
		file("./index.json", `{"schemaVersion":2,"manifests":[]}`), file("./oci-layout", `{"imageLayoutVersion":"1.0.0"}`))
}

// sparseBomb is a PAX 1.0 sparse file: a few bytes in the archive, a gigabyte once expanded.
// archive/tar's writer drops GNU.sparse records, so the pax header is an ordinary entry retyped.
func sparseBomb(t testing.TB) []byte {
	var records string
	for _, kv := range []string{"GNU.sparse.major=1", "GNU.sparse.minor=0", "GNU.sparse.name=blob", "GNU.sparse.realsize=1000000000"} {
		records += pax(kv)
	}
	sparseMap := "1\n999999990\n10\n"
	body := sparseMap + strings.Repeat("\x00", 512-len(sparseMap)) + "0123456789"
	b := archive(t, tar.FormatUSTAR, file("PaxHeaders/blob", records), file("GNUSparseFile.0/blob", body))
	return retype(b, 0, tar.TypeXHeader)
}

// pax formats one pax record: its length (itself included), a space, key=value and a newline.
func pax(kv string) string {
	n := len(kv) + 3
	for len(strconv.Itoa(n))+len(kv)+2 != n {
		n++
	}
	return strconv.Itoa(n) + " " + kv + "\n"
}

// retype sets the type of the header at off and fixes its checksum.
func retype(b []byte, off int, flag byte) []byte {
	h := b[off : off+512]
	h[156] = flag
	copy(h[148:156], "        ")
	sum := 0
	for _, c := range h {
		sum += int(c)
	}
	copy(h[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

// hostile archives and the error each gets; the nested ones put a harmless entry first.
func hostile(t testing.TB) map[string]struct {
	tar  []byte
	want string
} {
	return map[string]struct {
		tar  []byte
		want string
	}{
		"parent":         {archive(t, tar.FormatGNU, file("../evil", "x")), `entry "../evil" leaves the archive`},
		"dot parent":     {archive(t, tar.FormatGNU, dir("./"), file("./../evil", "x")), `entry "./../evil" leaves the archive`},
		"climbs back":    {archive(t, tar.FormatPAX, dir("a/"), file("a/../../evil", "x")), `entry "a/../../evil" leaves the archive`},
		"absolute":       {archive(t, tar.FormatGNU, file("/tmp/tagrelay-evil", "x")), `entry "/tmp/tagrelay-evil" leaves the archive`},
		"parent dir":     {archive(t, tar.FormatGNU, dir("../evil/")), `entry "../evil/" leaves the archive`},
		"symlink":        {archive(t, tar.FormatGNU, special("blobs", tar.TypeSymlink, "/etc"), file("blobs/x", "x")), `entry "blobs" is a symbolic link`},
		"hard link":      {archive(t, tar.FormatGNU, special("oci-layout", tar.TypeLink, "/etc/passwd")), `entry "oci-layout" is a hard link`},
		"char device":    {archive(t, tar.FormatGNU, special("null", tar.TypeChar, "")), `entry "null" is a device`},
		"block device":   {archive(t, tar.FormatGNU, special("sda", tar.TypeBlock, "")), `entry "sda" is a device`},
		"fifo":           {archive(t, tar.FormatGNU, special("pipe", tar.TypeFifo, "")), `entry "pipe" is a FIFO`},
		"listed twice":   {archive(t, tar.FormatGNU, file("index.json", "{}"), file("./index.json", "[]")), `entry "./index.json" is listed twice`},
		"below a file":   {archive(t, tar.FormatGNU, file("blobs", "x"), file("blobs/sha256/x", "y")), `entry "blobs/sha256/x" clashes with an earlier entry`},
		"file at root":   {archive(t, tar.FormatGNU, file(".", "x")), `entry "." is a file in place of the archive's root`},
		"sparse bomb":    {sparseBomb(t), `more than the archive holds`},
		"long name":      {archive(t, tar.FormatPAX, file(strings.Repeat("a/", 3000)+"x", "x")), "name longer than 1024 bytes"},
		"deep":           {archive(t, tar.FormatPAX, file(strings.Repeat("a/", 16)+"x", "x")), "more than 16 levels deep"},
		"truncated":      {dotLayout(t, tar.FormatGNU)[:3*512+100], "corrupt OCI archive"},
		"not a tar":      {[]byte(strings.Repeat("not a tar archive ", 64)), "corrupt OCI archive"},
		"empty name":     {archive(t, tar.FormatPAX, entry{tar.Header{Typeflag: tar.TypeDir, PAXRecords: map[string]string{"path": ""}}, ""}), "no name"},
		"symlink in pax": {archive(t, tar.FormatPAX, dir("./"), special("./index.json", tar.TypeSymlink, "../../etc/passwd")), `entry "./index.json" is a symbolic link`},
	}
}

func TestExtractAcceptsHarmlessEntries(t *testing.T) {
	t.Parallel()
	for name, data := range map[string][]byte{
		"tar -C layout . (gnu)": dotLayout(t, tar.FormatGNU),
		"tar -C layout . (pax)": dotLayout(t, tar.FormatPAX),
		"ustar":                 dotLayout(t, tar.FormatUSTAR),
		"plain names, no dirs (buildah)": archive(t, tar.FormatPAX, file("blobs/sha256/"+strings.Repeat("ab", 32), "{}"),
			file("index.json", `{"schemaVersion":2,"manifests":[]}`), file("oci-layout", `{"imageLayoutVersion":"1.0.0"}`)),
		"pax global header, ./ twice, .// and a/./b": archive(t, tar.FormatPAX,
			entry{hdr: tar.Header{Typeflag: tar.TypeXGlobalHeader, PAXRecords: map[string]string{"comment": "git archive"}}},
			dir("./"), dir("."), dir(".//blobs//"), dir("./blobs/./sha256/"), file("./blobs/./sha256/"+strings.Repeat("ab", 32), "{}"),
			file(".//index.json", `{"schemaVersion":2,"manifests":[]}`), file("oci-layout", `{"imageLayoutVersion":"1.0.0"}`)),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := t.TempDir()
			if err := extract(bytes.NewReader(data), d, int64(len(data))); err != nil {
				t.Fatalf("extract() = %v", err)
			}
			for p, want := range map[string]string{"oci-layout": `{"imageLayoutVersion":"1.0.0"}`, "index.json": `{"schemaVersion":2,"manifests":[]}`,
				"blobs/sha256/" + strings.Repeat("ab", 32): "{}"} {
				if got, err := os.ReadFile(filepath.Join(d, p)); err != nil || string(got) != want {
					t.Errorf("%s = %q, %v; want %q", p, got, err, want)
				}
			}
		})
	}
}

// Each hostile archive is refused with a one-line archive error naming the entry, and nothing
// is written outside the destination.
func TestExtractRefusesHostileEntries(t *testing.T) {
	t.Parallel()
	for name, tc := range hostile(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			parent := t.TempDir()
			d := filepath.Join(parent, "a", "b", "dest")
			if err := os.MkdirAll(d, 0o700); err != nil {
				t.Fatal(err)
			}
			err := extract(bytes.NewReader(tc.tar), d, int64(len(tc.tar)))
			var bad archiveError
			if !errors.As(err, &bad) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("extract() = %v, want an archive error containing %q", err, tc.want)
			}
			checkConfined(t, parent, d, int64(len(tc.tar)))
		})
	}
	if _, err := os.Lstat("/tmp/tagrelay-evil"); err == nil {
		t.Errorf("/tmp/tagrelay-evil was written")
	}
}

// checkConfined fails unless parent holds nothing but the path to dest, and dest only
// directories and regular files of at most limit bytes in all.
func checkConfined(t *testing.T, parent, dest string, limit int64) {
	t.Helper()
	var total int64
	err := filepath.WalkDir(parent, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		sep := string(filepath.Separator)
		if !strings.HasPrefix(p, dest+sep) && p != dest && !strings.HasPrefix(dest, p+sep) {
			t.Errorf("%s was written outside the destination", p)
		}
		switch {
		case d.Type().IsRegular():
			fi, err := d.Info()
			if err != nil {
				return err
			}
			total += fi.Size()
		case !d.IsDir():
			t.Errorf("%s is a %v, not a file or a directory", p, d.Type())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if total > limit {
		t.Errorf("%d bytes unpacked from an archive of %d", total, limit)
	}
}

// FuzzExtract: whatever the archive, extract never panics, never writes outside the
// destination (not next to it, not at an absolute path it names), creates nothing but
// directories and regular files, and never unpacks more bytes than the archive has.
func FuzzExtract(f *testing.F) {
	f.Add(dotLayout(f, tar.FormatGNU))
	f.Add(dotLayout(f, tar.FormatPAX))
	f.Add(dotLayout(f, tar.FormatUSTAR))
	for _, tc := range hostile(f) {
		f.Add(tc.tar)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		parent := t.TempDir()
		d := filepath.Join(parent, "a", "b", "dest")
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		outside := outsideNames(data, d)
		_ = extract(bytes.NewReader(data), d, int64(len(data)))
		checkConfined(t, parent, d, int64(len(data)))
		for p, existed := range outside {
			if _, err := os.Lstat(p); err == nil && !existed {
				t.Errorf("%s was written outside the destination", p)
			}
		}
	})
}

// outsideNames returns the paths outside dest that the entries of data name (absolute, or
// climbing out with ".."), and whether each exists before extracting.
func outsideNames(data []byte, dest string) map[string]bool {
	out := map[string]bool{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err != nil {
			return out
		}
		p := filepath.Clean(h.Name)
		if !filepath.IsAbs(p) {
			p = filepath.Join(dest, p)
		}
		if p != dest && !strings.HasPrefix(p, dest+string(filepath.Separator)) {
			_, err := os.Lstat(p)
			out[p] = err == nil
		}
	}
}
