package mirror

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/tagrelay/tagrelay/internal/gitauth"
)

// lfsPointer is one Git LFS object named by a pointer file in the mirrored commits.
// https://github.com/git-lfs/git-lfs/blob/main/docs/spec.md
type lfsPointer struct {
	OID  string // sha256, lowercase hex
	Size int64
	Path string // where the scan first saw it, for messages
}

// lfsPointerMax is the size below which a blob may be a pointer (git-lfs's own cutoff); a
// pointer with no extension is at least lfsPointerMin bytes.
const (
	lfsPointerMax = 1024
	lfsPointerMin = len("version https://git-lfs.github.com/spec/v1\noid sha256:\nsize 0\n") + 64
)

var (
	lfsVersions = []string{"version https://git-lfs.github.com/spec/v1\n", "version https://hawser.github.com/spec/v1\n"}
	lfsOID      = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
)

// parseLFSPointer returns the object a pointer file names, false when b is not a pointer.
func parseLFSPointer(b []byte) (lfsPointer, bool) {
	var p lfsPointer
	text := string(b)
	found := false
	for _, v := range lfsVersions {
		if rest, ok := strings.CutPrefix(text, v); ok {
			text, found = rest, true
			break
		}
	}
	if !found || !strings.HasSuffix(text, "\n") {
		return p, false
	}
	var oid, size string
	for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		key, value, ok := strings.Cut(line, " ")
		switch {
		case !ok:
			return p, false
		case key == "oid":
			oid = value
		case key == "size":
			size = value
		case strings.HasPrefix(key, "ext-"):
		default:
			return p, false
		}
	}
	n, err := strconv.ParseInt(size, 10, 64)
	if !lfsOID.MatchString(oid) || err != nil || n < 0 || strconv.FormatInt(n, 10) != size {
		return p, false
	}
	return lfsPointer{OID: strings.TrimPrefix(oid, "sha256:"), Size: n}, true
}

// scanLFS returns the LFS objects named by pointer files in the commits reachable from tips and
// not from exclude, keyed by oid. known are the excluded commits already known to be in the cache
// (the others are checked: rev-list stops on a missing one, even with --ignore-missing).
//
// The usual sync pushes a few new commits, so this is built to cost one process: rev-list lists
// only the small blobs (--filter=combine:blob:limit=1024+object:type=blob, git ≥ 2.32; older
// gits get a cat-file --batch-check stage), and those that a small fetch left as loose objects
// are read here, without opening the cache's packs; the others go through one cat-file --batch.
//
// With nothing to exclude (a first sync: the destination has none of it), the walk would cost what
// counting the objects of the push does (0.65 s of CPU on 15,000 commits); a look at every object
// of the cache, which reads pack indexes and object headers and no tree (0.25 s), answers "no
// pointer anywhere" for most repositories, and only a cache that holds pointers gets the walk.
func (s *syncer) scanLFS(ctx context.Context, tips, exclude []string, known map[string]bool) (map[string]lfsPointer, error) {
	var ex, unknown []string
	for _, e := range exclude {
		if known[e] {
			ex = append(ex, e)
		} else {
			unknown = append(unknown, e)
		}
	}
	have, err := s.present(ctx, unknown)
	if err != nil {
		return nil, err
	}
	ex = append(ex, have...)
	if len(ex) == 0 {
		any, err := s.cacheHasPointers(ctx)
		if err != nil || !any {
			return map[string]lfsPointer{}, err
		}
	}
	var in strings.Builder
	for _, t := range tips {
		in.WriteString(t + "\n")
	}
	for _, e := range ex {
		in.WriteString("^" + e + "\n")
	}
	blobs, paths, err := s.walkSmallBlobs(ctx, in.String(), tips)
	if errors.Is(err, errOldGit) {
		revList, revErr := s.git.local(ctx, s.cache.dir, "rev-list", "--objects", "--stdin", "--ignore-missing",
			"--filter=blob:limit="+strconv.Itoa(lfsPointerMax))
		revList.Stdin = strings.NewReader(in.String())
		blobs, paths, err = s.smallBlobs(ctx, revList, revErr)
	}
	if err != nil {
		return nil, err
	}
	ptrs := map[string]lfsPointer{}
	var packed []string
	for _, b := range blobs {
		body, ok := s.cache.readLoose(b)
		if !ok {
			packed = append(packed, b)
			continue
		}
		if p, ok := parseLFSPointer(body); ok {
			if _, dup := ptrs[p.OID]; !dup {
				p.Path = paths[b]
				ptrs[p.OID] = p
			}
		}
	}
	more, err := s.readPointers(ctx, packed, paths)
	if err != nil {
		return nil, err
	}
	for oid, p := range more {
		if _, dup := ptrs[oid]; !dup {
			ptrs[oid] = p
		}
	}
	return ptrs, nil
}

// errOldGit: the git CLI lacks the object:type filter (git < 2.32).
var errOldGit = errors.New("git without --filter=object:type")

// walkSmallBlobs runs rev-list with input on stdin and returns the blobs under lfsPointerMax bytes
// it lists, with their paths. Commits and the tag objects of tips are skipped.
func (s *syncer) walkSmallBlobs(ctx context.Context, input string, tips []string) ([]string, map[string]string, error) {
	revList, tail := s.git.local(ctx, s.cache.dir, "rev-list", "--objects", "--stdin",
		"--filter=combine:blob:limit="+strconv.Itoa(lfsPointerMax)+"+object:type=blob")
	revList.Stdin = strings.NewReader(input)
	out, err := revList.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := revList.Start(); err != nil {
		return nil, nil, fmt.Errorf("scanning for LFS pointers: %w", err)
	}
	isTip := map[string]bool{}
	for _, t := range tips {
		isTip[t] = true
	}
	var blobs []string
	paths := map[string]string{}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		oid, path, named := strings.Cut(sc.Text(), " ")
		if !named || isTip[oid] {
			continue // a commit, or an annotated tag given as a tip
		}
		if _, seen := paths[oid]; !seen {
			blobs = append(blobs, oid)
			paths[oid] = path
		}
	}
	scanErr := sc.Err()
	if scanErr != nil {
		io.Copy(io.Discard, out)
	}
	if err := revList.Wait(); err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		if msg := tail.String(); strings.Contains(msg, "filter") && strings.Contains(msg, "object:type") || strings.Contains(msg, "invalid filter-spec") {
			return nil, nil, errOldGit
		}
		return nil, nil, fmt.Errorf("scanning for LFS pointers: git rev-list: %v: %s", err, tail)
	}
	if scanErr != nil {
		return nil, nil, fmt.Errorf("scanning for LFS pointers: %w", scanErr)
	}
	return blobs, paths, nil
}

// readLoose returns the content of a blob stored as a loose object of the cache (what a small
// fetch leaves), false when it is packed, not a blob, or not small enough to be a pointer.
func (c *cache) readLoose(oid string) ([]byte, bool) {
	if len(oid) < 3 {
		return nil, false
	}
	f, err := os.Open(filepath.Join(c.dir, "objects", oid[:2], oid[2:]))
	if err != nil {
		return nil, false
	}
	defer f.Close()
	zr, err := zlib.NewReader(f)
	if err != nil {
		return nil, false
	}
	defer zr.Close()
	b, err := io.ReadAll(io.LimitReader(zr, lfsPointerMax+32))
	if err != nil {
		return nil, false
	}
	header, body, ok := bytes.Cut(b, []byte{0})
	typ, size, _ := strings.Cut(string(header), " ")
	if !ok || typ != "blob" || size != strconv.Itoa(len(body)) {
		return nil, false
	}
	return body, true
}

// cacheHasPointers reports whether any object of the cache is an LFS pointer.
func (s *syncer) cacheHasPointers(ctx context.Context) (bool, error) {
	blobs, _, err := s.smallBlobs(ctx, nil, nil)
	if err != nil || len(blobs) == 0 {
		return false, err
	}
	ptrs, err := s.readPointers(ctx, blobs, nil)
	return len(ptrs) > 0, err
}

// smallBlobs runs cat-file --batch-check over the objects that list writes (every object of the
// cache when list is nil) and returns the blobs small enough to be pointers, with the path the
// listing gave each.
func (s *syncer) smallBlobs(ctx context.Context, list *exec.Cmd, listErr *tailBuffer) ([]string, map[string]string, error) {
	args := []string{"cat-file", "--batch-check=%(objectname) %(objecttype) %(objectsize) %(rest)"}
	if list == nil {
		args = append(args, "--batch-all-objects", "--unordered")
	}
	check, checkErr := s.git.local(ctx, s.cache.dir, args...)
	if list != nil {
		pipe, err := list.StdoutPipe()
		if err != nil {
			return nil, nil, err
		}
		check.Stdin = pipe
	}
	out, err := check.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if list != nil {
		if err := list.Start(); err != nil {
			return nil, nil, fmt.Errorf("scanning for LFS pointers: %w", err)
		}
	}
	if err := check.Start(); err != nil {
		if list != nil {
			list.Process.Kill()
			list.Wait()
		}
		return nil, nil, fmt.Errorf("scanning for LFS pointers: %w", err)
	}
	var blobs []string
	paths := map[string]string{}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), " ", 4)
		if len(f) < 3 || f[1] != "blob" {
			continue
		}
		if n, err := strconv.Atoi(f[2]); err != nil || n < lfsPointerMin || n >= lfsPointerMax {
			continue
		}
		if _, seen := paths[f[0]]; !seen {
			blobs = append(blobs, f[0])
			paths[f[0]] = ""
			if len(f) == 4 {
				paths[f[0]] = f[3]
			}
		}
	}
	scanErr := sc.Err()
	if scanErr != nil {
		io.Copy(io.Discard, out)
	}
	var errList error
	if list != nil {
		errList = list.Wait()
	}
	errCheck := check.Wait()
	for _, e := range []struct {
		err  error
		tail *tailBuffer
		what string
	}{{errList, listErr, "rev-list"}, {errCheck, checkErr, "cat-file"}} {
		if e.err != nil {
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
			return nil, nil, fmt.Errorf("scanning for LFS pointers: git %s: %v: %s", e.what, e.err, e.tail)
		}
	}
	if scanErr != nil {
		return nil, nil, fmt.Errorf("scanning for LFS pointers: %w", scanErr)
	}
	return blobs, paths, nil
}

// readPointers reads the blobs (each under lfsPointerMax bytes) and returns the pointers among
// them by oid, each with its blob's path.
func (s *syncer) readPointers(ctx context.Context, blobs []string, paths map[string]string) (map[string]lfsPointer, error) {
	ptrs := map[string]lfsPointer{}
	if len(blobs) == 0 {
		return ptrs, nil
	}
	read, readErr := s.git.local(ctx, s.cache.dir, "cat-file", "--batch")
	read.Stdin = strings.NewReader(strings.Join(blobs, "\n") + "\n")
	var stdout bytes.Buffer // the blobs are under 1 KiB each
	read.Stdout = &stdout
	if err := read.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("scanning for LFS pointers: git cat-file: %v: %s", err, readErr)
	}
	r := bufio.NewReader(&stdout)
	for range blobs {
		header, err := r.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("scanning for LFS pointers: reading cat-file output: %w", err)
		}
		f := strings.Fields(header)
		if len(f) == 2 && f[1] == "missing" {
			continue
		}
		if len(f) != 3 {
			return nil, fmt.Errorf("scanning for LFS pointers: unexpected cat-file output %q", strings.TrimSpace(header))
		}
		n, err := strconv.Atoi(f[2])
		if err != nil || n < 0 {
			return nil, fmt.Errorf("scanning for LFS pointers: unexpected cat-file output %q", strings.TrimSpace(header))
		}
		body := make([]byte, n+1)
		if _, err := io.ReadFull(r, body); err != nil {
			return nil, errors.Join(errors.New("scanning for LFS pointers: short cat-file output"), err)
		}
		if f[1] != "blob" || n >= lfsPointerMax {
			continue
		}
		if p, ok := parseLFSPointer(body[:n]); ok {
			if _, dup := ptrs[p.OID]; !dup {
				p.Path = paths[f[0]]
				ptrs[p.OID] = p
			}
		}
	}
	return ptrs, nil
}

// present returns the objects of ids that the cache has (rev-list stops on a missing one, even
// with --ignore-missing).
func (s *syncer) present(ctx context.Context, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	out, err := s.git.run(ctx, s.cache.dir, gitauth.Credentials{}, strings.NewReader(strings.Join(ids, "\n")+"\n"),
		"cat-file", "--batch-check=%(objectname)")
	if err != nil {
		return nil, fmt.Errorf("scanning for LFS pointers: %w", err)
	}
	var have []string
	for _, line := range strings.Split(out, "\n") {
		if id, _, _ := strings.Cut(line, " "); len(line) > 0 && !strings.HasSuffix(line, " missing") {
			have = append(have, id)
		}
	}
	return have, nil
}
