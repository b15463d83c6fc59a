package registry

import (
	"archive/tar"
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	pathpkg "path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

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
		switch pathpkg.Clean(h.Name) {
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

// openOCIArchive unpacks a tar of an OCI layout into a private temporary directory and opens it.
func openOCIArchive(path, sel string) (*Source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, sourceError(path, "%v", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, sourceError(path, "%v", err)
	}
	dir, err := os.MkdirTemp("", "tagrelay-oci-")
	if err != nil {
		return nil, fmt.Errorf("unpacking %s: %w", path, err)
	}
	cleanup := func() error { return os.RemoveAll(dir) }
	// A plain tar holds its content and more (headers, padding), so its size bounds what it
	// can honestly unpack to; only a sparse entry could claim more.
	if err := extract(bufio.NewReader(f), dir, fi.Size()); err != nil {
		cleanup()
		var bad archiveError
		if errors.As(err, &bad) {
			return nil, sourceError(path, "%v", bad)
		}
		return nil, fmt.Errorf("unpacking %s: %w", path, err)
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

// archiveError is what is wrong with an archive itself, as opposed to the disk it is unpacked on.
type archiveError string

func (e archiveError) Error() string { return string(e) }

func badArchive(format string, args ...any) error {
	return archiveError(fmt.Sprintf(format, args...))
}

// An OCI layout is three levels deep (blobs/ALG/HEX) with short names: these bounds leave room
// for any layout and refuse names that would only cost time (a thousand nested directories).
const (
	maxEntryName  = 1024
	maxEntryDepth = 16
)

// extract unpacks the tar read from r into dir, an empty directory: the directories and regular
// files of an OCI layout, written through an os.Root so that nothing can land outside dir.
// Names are relative to the archive's root, so the "./", "./oci-layout" and "./blobs/…" of
// `tar -C layout -cf x.tar .` are the same as "oci-layout" and "blobs/…"; pax and GNU long-name
// headers are read by archive/tar, and a pax global header is metadata. Refused: an absolute
// name or one with a ".." element, a link (symbolic or hard), a device, FIFO or sparse entry, a
// file listed twice or below a file, and more than limit bytes of content in all. On error dir
// may hold part of the archive; the caller removes it.
func extract(r io.Reader, dir string, limit int64) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return badArchive("corrupt OCI archive: %v", err)
		}
		name, err := entryName(h.Name)
		if err != nil {
			return err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			err = root.MkdirAll(name, 0o700)
		case tar.TypeReg:
			if name == "." {
				return badArchive("entry %q is a file in place of the archive's root", h.Name)
			}
			if h.Size > limit {
				return badArchive("entry %q: its %d bytes are more than the archive holds (a sparse file?)", h.Name, h.Size)
			}
			limit -= h.Size
			err = writeEntry(root, name, tr, h.Size)
		case tar.TypeXGlobalHeader:
			continue
		default:
			return badArchive("entry %q is %s: an OCI archive holds only files and directories", h.Name, entryKind(h.Typeflag))
		}
		if err != nil {
			return entryFault(h.Name, err)
		}
	}
}

// entryName returns the name of an entry relative to the archive's root ("." for the root).
func entryName(name string) (string, error) {
	switch {
	case name == "":
		return "", badArchive("an entry has no name")
	case len(name) > maxEntryName:
		return "", badArchive("entry %.40q…: name longer than %d bytes", name, maxEntryName)
	}
	elems := strings.Split(name, "/")
	switch {
	case strings.HasPrefix(name, "/") || slices.Contains(elems, ".."):
		return "", badArchive("entry %q leaves the archive", name)
	case len(elems) > maxEntryDepth:
		return "", badArchive("entry %.40q…: more than %d levels deep", name, maxEntryDepth)
	}
	return filepath.FromSlash(pathpkg.Clean(name)), nil
}

func entryKind(flag byte) string {
	switch flag {
	case tar.TypeSymlink:
		return "a symbolic link"
	case tar.TypeLink:
		return "a hard link"
	case tar.TypeChar, tar.TypeBlock:
		return "a device"
	case tar.TypeFifo:
		return "a FIFO"
	case tar.TypeGNUSparse:
		return "a sparse file"
	}
	return fmt.Sprintf("of type %q", flag)
}

// entryFault tells an entry that clashes with an earlier one (the archive's fault) from a disk
// that cannot take it.
func entryFault(name string, err error) error {
	var bad archiveError
	switch {
	case errors.As(err, &bad):
		return err
	case errors.Is(err, fs.ErrExist):
		return badArchive("entry %q is listed twice", name)
	case errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.EISDIR):
		return badArchive("entry %q clashes with an earlier entry", name)
	}
	return err
}

func writeEntry(root *os.Root, name string, r io.Reader, size int64) error {
	if d := filepath.Dir(name); d != "." {
		if err := root.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	out, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	n, err := io.Copy(out, tarBody{r})
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != size {
		err = badArchive("corrupt OCI archive: entry %q truncated", name)
	}
	return err
}

// tarBody marks the errors of reading an entry's body as the archive's.
type tarBody struct{ r io.Reader }

func (b tarBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		err = badArchive("corrupt OCI archive: %v", err)
	}
	return n, err
}
