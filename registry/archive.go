package registry

import (
	"archive/tar"
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// sniffArchive tells an OCI archive from a docker tarball by the names of its entries. A tar
// holding both (docker save ≥ 25) is read as OCI, which keeps its digests.
func sniffArchive(path string) (SourceKind, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", sourceError(path, "%v", err)
	}
	defer f.Close()
	var magic [2]byte
	if n, _ := io.ReadFull(f, magic[:]); n == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		return "", sourceError(path, "gzip-compressed archive; decompress it first (gunzip)")
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", sourceError(path, "%v", err)
	}
	// The *os.File itself, not a bufio.Reader: as an io.Seeker it lets archive/tar seek over
	// the entry bodies instead of reading a multi-GB tarball through.
	tr := tar.NewReader(f)
	docker := false
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", sourceError(path, "corrupt or not a tar archive: %v", err)
		}
		switch strings.TrimPrefix(h.Name, "./") {
		case "oci-layout":
			return SourceOCIArchive, nil
		case "manifest.json":
			docker = true
		}
	}
	if !docker {
		return "", sourceError(path, "corrupt or not an image archive: neither an OCI archive (no oci-layout entry) nor a docker tarball (no manifest.json)")
	}
	return SourceDockerArchive, nil
}

// openDockerArchive opens the image of a docker tarball, or the one tagged sel when it holds
// several. Computing the digest reads every layer, so a truncated tarball fails here.
func openDockerArchive(path, sel string) (*Source, error) {
	opener := func() (io.ReadCloser, error) { return os.Open(path) }
	var tag *name.Tag
	if sel != "" {
		t, err := name.NewTag(sel)
		if err != nil {
			return nil, sourceError(path, "invalid tag %q: %v", sel, err)
		}
		tag = &t
	} else {
		mf, err := tarball.LoadManifest(opener)
		if err != nil {
			return nil, sourceError(path, "corrupt docker archive: %v", err)
		}
		if len(mf) != 1 {
			return nil, sourceError(path, "holds %d images; pick one with docker-archive:%s:REPO:TAG", len(mf), path)
		}
	}
	img, err := tarball.Image(opener, tag)
	if err != nil {
		return nil, sourceError(path, "corrupt docker archive: %v", err)
	}
	digest, err := img.Digest()
	if err != nil {
		return nil, sourceError(path, "corrupt docker archive: %v", err)
	}
	mt, err := img.MediaType()
	if err != nil {
		return nil, sourceError(path, "corrupt docker archive: %v", err)
	}
	return &Source{Kind: SourceDockerArchive, Name: path, local: img, digest: digest, mediaType: mt}, nil
}

// openOCIArchive unpacks a tar of an OCI layout into a temporary directory and opens it.
func openOCIArchive(path, sel string) (*Source, error) {
	dir, err := os.MkdirTemp("", "tagrelay-oci-")
	if err != nil {
		return nil, fmt.Errorf("unpacking %s: %w", path, err)
	}
	cleanup := func() error { return os.RemoveAll(dir) }
	if err := untar(path, dir); err != nil {
		cleanup()
		return nil, sourceError(path, "corrupt OCI archive: %v", err)
	}
	src, err := openLayout(dir, path, sel)
	if err != nil {
		cleanup()
		return nil, err
	}
	src.Kind = SourceOCIArchive
	src.cleanup = cleanup
	return src, nil
}

// untar extracts the regular files and directories of the tar at path below dir, refusing
// entries that would land outside it.
func untar(path, dir string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(bufio.NewReader(f))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		target := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(target, dir+string(filepath.Separator)) {
			return fmt.Errorf("entry %q leaves the archive", h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(target, 0o755)
		case tar.TypeReg:
			err = writeEntry(target, tr, h.Size)
		}
		if err != nil {
			return err
		}
	}
}

func writeEntry(target string, r io.Reader, size int64) error {
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	out, err := os.Create(target)
	if err != nil {
		return err
	}
	n, err := io.Copy(out, r)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != size {
		err = fmt.Errorf("entry %s truncated", filepath.Base(target))
	}
	return err
}
