package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// generate writes a bare repository of n commits with git fast-import: every commit rewrites one
// of 600 files (in 30 directories) with size bytes that do not compress or delta, so the pack
// grows by about size per commit like a busy application repository, plus a branch every 1,000
// commits and a tag every 250. The result is cached: generation takes a minute.
func generate(dir string, n, size int) error {
	if _, err := os.Stat(filepath.Join(dir, "HEAD")); err == nil {
		return nil
	}
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	if err := gitRun("", "init", "--bare", "--quiet", "--initial-branch=main", tmp); err != nil {
		return err
	}
	cmd := exec.Command("git", "fast-import", "--quiet", "--done")
	cmd.Dir = tmp
	cmd.Env = benchEnv()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	w := bufio.NewWriterSize(stdin, 1<<20)
	start := time.Now()
	rnd := uint64(0x9E3779B97F4A7C15)
	buf := make([]byte, size)
	when := int64(1_600_000_000)
	for i := 1; i <= n; i++ {
		for j := range buf {
			rnd ^= rnd << 13
			rnd ^= rnd >> 7
			rnd ^= rnd << 17
			buf[j] = byte(rnd)
		}
		when += 600
		fmt.Fprintf(w, "commit refs/heads/main\nmark :%d\ncommitter Bench <bench@example.invalid> %d +0000\ndata <<EOM\ncommit %d\nEOM\n", i, when, i)
		if i > 1 {
			fmt.Fprintf(w, "from :%d\n", i-1)
		}
		fmt.Fprintf(w, "M 100644 inline dir%02d/file%03d.bin\ndata %d\n", i%30, i%600, size)
		w.Write(buf)
		w.WriteString("\n")
		if i%1000 == 0 {
			fmt.Fprintf(w, "reset refs/heads/release-%d\nfrom :%d\n\n", i/1000, i)
		}
		if i%250 == 0 {
			fmt.Fprintf(w, "reset refs/tags/v0.%d.0\nfrom :%d\n\n", i/250, i)
		}
	}
	io.WriteString(w, "done\n")
	if err := w.Flush(); err != nil {
		return err
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("git fast-import: %w", err)
	}
	// One pack, as a server that has run gc holds it.
	if err := gitRun(tmp, "repack", "-a", "-d", "-q"); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "generated %d commits in %s\n", n, time.Since(start).Round(time.Second))
	return os.Rename(tmp, dir)
}

// packSize returns the size of the repository's packs.
func packSize(dir string) int64 {
	var n int64
	files, _ := filepath.Glob(filepath.Join(dir, "objects", "pack", "*.pack"))
	for _, f := range files {
		if st, err := os.Stat(f); err == nil {
			n += st.Size()
		}
	}
	return n
}

func gitRun(dir string, args ...string) error {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = benchEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}
