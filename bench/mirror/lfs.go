package main

// The Git LFS benchmark: `tagrelay-mirror --all --tags --lfs` against git-lfs by hand in a kept
// bare mirror — `git clone --mirror` (then `git fetch --prune`), `git lfs fetch --all`, `git lfs
// push --all`, `git push` of the branches and tags — which is also what tagrelay would run if it
// let Debian's git-lfs do its transfers. Three real Giteas on 127.0.0.1: the source, and one
// destination per tool (a Gitea shares its LFS store between repositories, so a second tool
// pushing to the same server would find every object there already). Each run mirrors a fresh
// source of -objects LFS files into fresh destinations, three times: first sync, +10 objects,
// no change; the tools take turns at each step.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/tagrelay/tagrelay/internal/gitauth"
	"github.com/tagrelay/tagrelay/internal/giteatest"
)

var lfsScenarios = []string{"first sync", "+10 objects", "no-change sync"}
var lfsTools = []string{"git-lfs", "tagrelay"}

func runLFS(runs, objects, size int) error {
	if _, err := exec.LookPath("git-lfs"); err != nil {
		return errors.New("git-lfs is needed (apt-get install git-lfs)")
	}
	work, err := os.MkdirTemp("", "bench-mirror-lfs-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	bin, err := buildMirror(work)
	if err != nil {
		return err
	}
	names := []string{"src", "git-lfs", "tagrelay"}
	servers := make([]*giteatest.Server, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dir := filepath.Join(work, "gitea-"+n)
			if errs[i] = os.MkdirAll(dir, 0o700); errs[i] == nil {
				servers[i], errs[i] = giteatest.Run(dir)
			}
		}()
	}
	wg.Wait()
	for _, s := range servers {
		if s != nil {
			defer s.Close()
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("starting Gitea: %w", err)
	}
	src, dsts := servers[0], map[string]*giteatest.Server{"git-lfs": servers[1], "tagrelay": servers[2]}

	fmt.Printf("source: %d LFS objects of %d KiB in one commit, then 10 more; 3 Giteas %s; git %s, %s; %d runs\n\n",
		objects, size>>10, "v1.26.0", gitVersion(), lfsVersion(), runs)

	results := map[string]map[string][]sample{}
	for _, sc := range lfsScenarios {
		results[sc] = map[string][]sample{}
	}
	for i := 0; i < runs; i++ {
		// The same source every run: -objects LFS files in one commit (the source's store keeps
		// them between runs, so the push is quick), then 10 more.
		wt, err := newLFSTree(filepath.Join(work, fmt.Sprintf("wt-%d", i)), gitEnv(work, src), objects, size)
		if err != nil {
			return err
		}
		repo := fmt.Sprintf("app-%d", i)
		srcURL, err := src.NewRepo(repo)
		if err != nil {
			return err
		}
		if err := wt.push(srcURL); err != nil {
			return err
		}
		dstURL := map[string]string{}
		for _, tool := range lfsTools {
			if dstURL[tool], err = dsts[tool].NewRepo(repo); err != nil {
				return err
			}
		}
		env := gitEnv(work, src, dsts["git-lfs"], dsts["tagrelay"])
		for step, sc := range lfsScenarios {
			if step == 1 {
				if err := wt.add(objects, 10, size); err != nil {
					return err
				}
				if err := wt.push(srcURL); err != nil {
					return err
				}
			}
			for k := range lfsTools {
				tool := lfsTools[(i+k)%len(lfsTools)]
				state := filepath.Join(work, fmt.Sprintf("%s-%d", tool, i))
				argv, extra := lfsCommand(tool, step, bin, state, srcURL, dstURL[tool], src, dsts[tool])
				toolEnv := env
				if tool == "tagrelay" { // its own credentials only, as in a CI job
					toolEnv = gitEnv(work)
				}
				s, err := timed(argv, append(toolEnv[:len(toolEnv):len(toolEnv)], extra...))
				if err != nil {
					return fmt.Errorf("%s run %d, %s: %w", tool, i+1, sc, err)
				}
				results[sc][tool] = append(results[sc][tool], s)
			}
		}
		for _, tool := range lfsTools {
			if err := sameObjects(src, dsts[tool]); err != nil {
				return fmt.Errorf("%s run %d: %w", tool, i+1, err)
			}
			r := func(sc string) float64 { l := results[sc][tool]; return l[len(l)-1].wall.Seconds() }
			fmt.Fprintf(os.Stderr, "run %d %-8s first %6.2fs  +10 %6.2fs  no-change %6.2fs\n", i+1, tool, r(lfsScenarios[0]), r(lfsScenarios[1]), r(lfsScenarios[2]))
			// Free the destination's store for the next run (its objects go with the repository).
			if err := dsts[tool].DeleteRepo(repo); err != nil {
				return err
			}
		}
	}
	fmt.Println("| scenario | tool | wall (median) | min–max | CPU | peak RSS | vs git-lfs |")
	fmt.Println("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
	printRows(results, lfsScenarios, lfsTools, false, "git-lfs")
	fmt.Println("\nRatios are the median of the per-run ratios (the tools take turns at each step of a run).")
	fmt.Println("CPU is user+system time of the tool's process tree (the Giteas' is not counted).")
	return nil
}

// lfsCommand is one step of a tool and its extra environment (tokens never go in argv). git-lfs
// by hand keeps its bare mirror between steps, as tagrelay keeps its cache.
func lfsCommand(tool string, step int, bin, state, srcURL, dstURL string, src, dst *giteatest.Server) ([]string, []string) {
	if tool == "tagrelay" {
		return []string{bin, "--source", srcURL, "--dest", dstURL, "--all", "--tags", "--lfs",
				"--cache-dir", state, "--allow-noop", "--log-level", "warn"},
			[]string{"TAGRELAY_SOURCE_USER=" + giteatest.Admin, "TAGRELAY_SOURCE_TOKEN=" + src.Token,
				"TAGRELAY_DEST_USER=" + giteatest.Admin, "TAGRELAY_DEST_TOKEN=" + dst.Token}
	}
	const refspecs = `"refs/heads/*:refs/heads/*" "refs/tags/*:refs/tags/*"`
	get := fmt.Sprintf("git clone -q --mirror %s %s && cd %s", srcURL, state, state)
	if step > 0 {
		get = fmt.Sprintf("cd %s && git fetch -q --prune origin", state)
	}
	return []string{"sh", "-c", fmt.Sprintf("%s && git lfs fetch --all origin >/dev/null && git lfs push --all %s >/dev/null && git push -q %s %s",
		get, dstURL, dstURL, refspecs)}, nil
}

// gitEnv isolates git from the user's configuration and gives each server's token as an
// http.<url>.extraHeader (git-lfs reads the same configuration), never in a URL or argv.
func gitEnv(home string, servers ...*giteatest.Server) []string {
	env := append(benchEnv(), "HOME="+home, "GIT_AUTHOR_NAME=b", "GIT_AUTHOR_EMAIL=b@example.invalid",
		"GIT_COMMITTER_NAME=b", "GIT_COMMITTER_EMAIL=b@example.invalid")
	env = append(env, fmt.Sprintf("GIT_CONFIG_COUNT=%d", len(servers)))
	for i, s := range servers {
		env = append(env, fmt.Sprintf("GIT_CONFIG_KEY_%d=http.%s.extraHeader", i, s.URL),
			fmt.Sprintf("GIT_CONFIG_VALUE_%d=Authorization: %s", i, gitauth.Credentials{Username: giteatest.Admin, Password: s.Token}.Header()))
	}
	return env
}

// lfsTree is the source work tree.
type lfsTree struct {
	dir string
	env []string
}

func newLFSTree(dir string, env []string, objects, size int) (*lfsTree, error) {
	w := &lfsTree{dir: dir, env: env}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	for _, args := range [][]string{{"init", "-q", "--initial-branch=main", "."}, {"lfs", "install", "--local"}, {"lfs", "track", "*.bin"}} {
		if err := w.git(args...); err != nil {
			return nil, err
		}
	}
	return w, w.add(0, objects, size)
}

func (w *lfsTree) git(args ...string) error {
	cmd := exec.Command("git", args...)
	cmd.Dir, cmd.Env = w.dir, w.env
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// add commits n new incompressible LFS files, numbered from first.
func (w *lfsTree) add(first, n, size int) error {
	for i := first; i < first+n; i++ {
		b := make([]byte, size)
		x := uint32(i)*2654435761 | 1
		for j := range b {
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			b[j] = byte(x)
		}
		if err := os.WriteFile(filepath.Join(w.dir, fmt.Sprintf("obj-%05d.bin", i)), b, 0o644); err != nil {
			return err
		}
	}
	if err := w.git("add", "-A"); err != nil {
		return err
	}
	if err := w.git("commit", "-q", "-m", fmt.Sprintf("%d LFS files", n)); err != nil {
		return err
	}
	return w.git("tag", "-f", fmt.Sprintf("v%d", first+n))
}

// push sends the branch, the tags and (through git-lfs's pre-push hook) the objects.
func (w *lfsTree) push(url string) error {
	return w.git("push", "-q", "--force", url, "refs/heads/main:refs/heads/main", "refs/tags/*:refs/tags/*")
}

// sameObjects checks that the destination's LFS store has every object of the source's.
func sameObjects(src, dst *giteatest.Server) error {
	a, err := src.Objects()
	if err != nil {
		return err
	}
	b, err := dst.Objects()
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, o := range b {
		have[o] = true
	}
	var missing []string
	for _, o := range a {
		if !have[o] {
			missing = append(missing, o)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		return fmt.Errorf("destination LFS store lacks %d of the source's %d objects", len(missing), len(a))
	}
	return nil
}

func lfsVersion() string {
	out, _ := exec.Command("git", "lfs", "version").Output()
	return string(bytes.TrimSpace(out))
}
