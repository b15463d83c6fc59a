// Command mirror benchmarks `tagrelay mirror` against the two ways a platform mirrors a repository
// with the git CLI, in the same run, over local smart HTTP (git http-backend, internal/gittest):
//
//   - shell: the platform's job, a full `git clone --mirror` and `git push --force --prune` of
//     refs/heads/* and refs/tags/* on every run;
//   - kept: a mirror clone kept between runs, `git fetch --prune` then `git push`;
//   - tagrelay: `tagrelay mirror --all --tags` with its persistent cache.
//
// Each tool syncs a fresh destination three times per run: first sync, no-change sync, and a sync
// after one new commit. Wall time and peak RSS (the largest process of the tree, from wait4's
// rusage) are reported as medians over -runs runs. The source repository (≥ 15,000 commits,
// ≥ 150 MB pack) is generated once with git fast-import and cached under -cache.
//
//	go run ./bench/mirror [-runs 3] [-commits 15000] [-blob 10240]
//
// With -lfs it benchmarks `tagrelay mirror --lfs` against git-lfs by hand instead (lfs.go):
//
//	go run ./bench/mirror -lfs [-runs 3] [-objects 200] [-object-size 65536]
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/tagrelay/tagrelay/internal/gittest"
)

type sample struct {
	wall   time.Duration
	cpu    time.Duration // user + system of the whole process tree
	rssKB  int64
	pushes int
}

var scenarios = []string{"first sync", "no-change sync", "+1 commit sync"}
var tools = []string{"shell", "kept", "tagrelay"}

func main() {
	home, _ := os.UserHomeDir()
	runs := flag.Int("runs", 3, "runs of every scenario and tool")
	commits := flag.Int("commits", 15000, "commits of the generated source repository")
	blob := flag.Int("blob", 10240, "bytes each commit adds (incompressible)")
	cacheRoot := flag.String("cache", filepath.Join(home, ".cache", "tagrelay", "bench"), "where the generated repository is kept")
	lfs := flag.Bool("lfs", false, "benchmark the Git LFS copy between two Giteas instead")
	objects := flag.Int("objects", 200, "with -lfs: LFS objects of the source")
	objectSize := flag.Int("object-size", 64<<10, "with -lfs: bytes of each LFS object (incompressible)")
	flag.Parse()
	var err error
	if *lfs {
		err = runLFS(*runs, *objects, *objectSize)
	} else {
		err = run(*runs, *commits, *blob, *cacheRoot)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/mirror:", err)
		os.Exit(1)
	}
}

func run(runs, commits, blob int, cacheRoot string) error {
	work, err := os.MkdirTemp("", "bench-mirror-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	origin := filepath.Join(cacheRoot, fmt.Sprintf("mirror-src-%d-%d.git", commits, blob))
	if err := os.MkdirAll(cacheRoot, 0o755); err != nil {
		return err
	}
	if err := generate(origin, commits, blob); err != nil {
		return fmt.Errorf("generating the source repository: %w", err)
	}
	bin, err := buildMirror(work)
	if err != nil {
		return err
	}
	src, err := gittest.Start(gittest.WithRoot(filepath.Join(work, "src")))
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := gittest.Start(gittest.WithRoot(filepath.Join(work, "dst")))
	if err != nil {
		return err
	}
	defer dst.Close()
	fmt.Printf("source: %d commits, %d branches and tags, pack %.0f MB; git %s; %d runs\n\n",
		commits, 1+commits/1000+commits/250, float64(packSize(origin))/1e6, gitVersion(), runs)

	results := map[string]map[string][]sample{}
	for _, sc := range scenarios {
		results[sc] = map[string][]sample{}
	}
	for i := 0; i < runs; i++ {
		// Every tool gets its own source copy and destination; the tools take turns at each
		// step (in an order rotated between runs), so each comparison is made seconds apart.
		benches := map[string]*bench{}
		for _, tool := range tools {
			name := fmt.Sprintf("%s-%d", tool, i)
			b := &bench{tool: tool, bin: bin, name: name, work: filepath.Join(work, name), src: src, dst: dst}
			if err := b.setup(origin); err != nil {
				return fmt.Errorf("%s run %d: %w", tool, i+1, err)
			}
			benches[tool] = b
		}
		for step, sc := range scenarios {
			for k := range tools {
				tool := tools[(i+k)%len(tools)]
				s, err := benches[tool].step(step)
				if err != nil {
					return fmt.Errorf("%s run %d, %s: %w", tool, i+1, sc, err)
				}
				results[sc][tool] = append(results[sc][tool], s)
			}
		}
		for _, tool := range tools {
			if err := benches[tool].check(); err != nil {
				return fmt.Errorf("%s run %d: %w", tool, i+1, err)
			}
			r := func(sc string) float64 { l := results[sc][tool]; return l[len(l)-1].wall.Seconds() }
			fmt.Fprintf(os.Stderr, "run %d %-8s first %6.2fs  no-change %6.2fs  +1 %6.2fs\n", i+1, tool, r(scenarios[0]), r(scenarios[1]), r(scenarios[2]))
		}
	}
	printTable(results)
	return nil
}

// buildMirror builds tagrelay-mirror into work as `make build` does: the single-purpose binary
// of the mirror job's image.
func buildMirror(work string) (string, error) {
	bin := filepath.Join(work, "tagrelay-mirror")
	build := exec.Command("go", "build", "-trimpath", "-tags", "urfave_cli_no_docs", "-ldflags", "-s -w", "-o", bin, "./cmd/tagrelay-mirror")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("building tagrelay-mirror: %w", err)
	}
	return bin, nil
}

// bench runs one tool's three syncs against its own source copy and destination.
type bench struct {
	tool, bin, name, work string
	src, dst              *gittest.Server
}

func (b *bench) setup(origin string) error {
	// A hardlinked copy: the +1 commit must not touch the cached original.
	if err := gitRun("", "clone", "--bare", "--local", "--quiet", origin, filepath.Join(b.src.Root, b.name+".git")); err != nil {
		return err
	}
	if err := b.dst.CreateRepo(b.name); err != nil {
		return err
	}
	return os.MkdirAll(b.work, 0o755)
}

// step runs scenario step (0 first sync, 1 no change, 2 one new commit) and counts the pushes
// the destination received.
func (b *bench) step(step int) (sample, error) {
	if step == 2 {
		if _, err := b.src.Commit(b.name, "main", "one more", map[string]string{"NEWS": "one more commit\n"}); err != nil {
			return sample{}, err
		}
	}
	before := b.pushes()
	s, err := b.timed(b.command(step, b.src.RepoURL(b.name), b.dst.RepoURL(b.name)))
	s.pushes = b.pushes() - before
	return s, err
}

func (b *bench) pushes() int {
	n := 0
	for _, r := range b.dst.Requests() {
		if r.Service == "git-receive-pack" && r.Method == "POST" && r.Repo == b.name+".git" {
			n++
		}
	}
	return n
}

// check verifies the destination ends equal to the source.
func (b *bench) check() error {
	srcRefs, _ := b.src.Refs(b.name)
	dstRefs, _ := b.dst.Refs(b.name)
	if fmt.Sprint(srcRefs) != fmt.Sprint(dstRefs) {
		return fmt.Errorf("destination differs from the source after the syncs")
	}
	return nil
}

func (b *bench) command(step int, srcURL, dstURL string) []string {
	const refspecs = `"refs/heads/*:refs/heads/*" "refs/tags/*:refs/tags/*"`
	switch b.tool {
	case "shell":
		w := filepath.Join(b.work, fmt.Sprintf("clone-%d", step))
		return []string{"sh", "-c", fmt.Sprintf(`git clone --mirror -q %s %s && cd %s && git push -q --force --prune %s %s`, srcURL, w, w, dstURL, refspecs)}
	case "kept":
		k := filepath.Join(b.work, "kept.git")
		if step == 0 {
			return []string{"sh", "-c", fmt.Sprintf(`git clone --mirror -q %s %s && cd %s && git push -q %s %s`, srcURL, k, k, dstURL, refspecs)}
		}
		return []string{"sh", "-c", fmt.Sprintf(`cd %s && git fetch -q --prune origin && git push -q %s %s`, k, dstURL, refspecs)}
	}
	return []string{b.bin, "--source", srcURL, "--dest", dstURL, "--all", "--tags",
		"--cache-dir", filepath.Join(b.work, "cache"), "--allow-noop", "--log-level", "warn"}
}

func (b *bench) timed(argv []string) (sample, error) { return timed(argv, benchEnv()) }

// timed runs argv with env and returns its wall time, CPU and peak RSS.
func timed(argv, env []string) (sample, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return sample{}, fmt.Errorf("%s: %w\n%s", strings.Join(argv, " "), err, out)
	}
	ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	s := sample{wall: wall}
	if ru != nil {
		s.rssKB = ru.Maxrss
		s.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return s, nil
}

// benchEnv isolates git from the user's configuration.
func benchEnv() []string {
	return append(os.Environ(), "HOME="+os.TempDir(), "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
		"XDG_CONFIG_HOME="+os.TempDir())
}

func gitVersion() string {
	out, _ := exec.Command("git", "version").Output()
	return strings.TrimPrefix(strings.TrimSpace(string(out)), "git version ")
}

func median(s []sample) sample {
	sort.Slice(s, func(i, j int) bool { return s[i].wall < s[j].wall })
	m := s[len(s)/2]
	for _, x := range s {
		m.rssKB = max(m.rssKB, x.rssKB)
		m.pushes = max(m.pushes, x.pushes)
	}
	return m
}

func printTable(results map[string]map[string][]sample) {
	fmt.Println("| scenario | tool | wall (median) | min–max | CPU | peak RSS | pushes | vs shell | vs kept |")
	fmt.Println("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	printRows(results, scenarios, tools, true, "shell", "kept")
	fmt.Println("\nRatios are the median of the per-run ratios (the tools take turns at each step of a run).")
	fmt.Println("CPU is user+system time of the tool's process tree (the git servers' is not counted).")
}

// printRows prints one table row per scenario and tool: median wall, its range, CPU, peak RSS,
// optionally the pushes, and the ratio to each baseline tool.
func printRows(results map[string]map[string][]sample, scenarios, tools []string, pushes bool, baselines ...string) {
	for _, sc := range scenarios {
		for _, tool := range tools {
			s := results[sc][tool]
			m := median(append([]sample(nil), s...))
			lo, hi := m.wall, m.wall
			for _, x := range s {
				lo, hi = min(lo, x.wall), max(hi, x.wall)
			}
			row := fmt.Sprintf("| %s | %s | %.2f s | %.2f–%.2f s | %.2f s | %.0f MB |", sc, tool,
				m.wall.Seconds(), lo.Seconds(), hi.Seconds(), m.cpu.Seconds(), float64(m.rssKB)/1024)
			if pushes {
				row += fmt.Sprintf(" %d |", m.pushes)
			}
			for _, b := range baselines {
				row += fmt.Sprintf(" %.2f× |", ratio(s, results[sc][b]))
			}
			fmt.Println(row)
		}
	}
}

// ratio is the median over runs of a[i]/b[i].
func ratio(a, b []sample) float64 {
	r := make([]float64, len(a))
	for i := range a {
		r[i] = a[i].wall.Seconds() / b[i].wall.Seconds()
	}
	sort.Float64s(r)
	return r[len(r)/2]
}
