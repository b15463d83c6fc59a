// Package measure times commands for the side-by-side benchmarks in bench/: wall time and peak
// RSS of a process tree, medians over runs, ratios against a peer, and a plain-text table.
package measure

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// Sample is one run of one command.
type Sample struct {
	Wall time.Duration
	// MaxRSS is the peak resident set size in bytes of the process or of its largest waited-for
	// descendant (getrusage semantics).
	MaxRSS int64
}

// Run runs cmd and returns its wall time and peak RSS. Output is captured and returned in the
// error when the command fails.
func Run(cmd *exec.Cmd) (Sample, error) {
	var out bytes.Buffer
	if cmd.Stdout == nil {
		cmd.Stdout = &out
	}
	if cmd.Stderr == nil {
		cmd.Stderr = &out
	}
	start := time.Now()
	err := cmd.Run()
	s := Sample{Wall: time.Since(start)}
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			s.MaxRSS = ru.Maxrss * 1024
		}
	}
	if err != nil {
		return s, fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, lastLines(out.String(), 20))
	}
	return s, nil
}

// Steps runs several commands in sequence as one operation (a shell pipeline of a peer tool):
// wall times add up, peak RSS is the largest.
func Steps(cmds ...*exec.Cmd) (Sample, error) {
	var total Sample
	for _, c := range cmds {
		s, err := Run(c)
		if err != nil {
			return total, err
		}
		total.Wall += s.Wall
		total.MaxRSS = max(total.MaxRSS, s.MaxRSS)
	}
	return total, nil
}

// Series is the samples of one command over several runs.
type Series struct {
	Name    string
	Samples []Sample
}

// Add appends a sample.
func (s *Series) Add(x Sample) { s.Samples = append(s.Samples, x) }

// Median returns the median wall time and the median peak RSS.
func (s *Series) Median() Sample {
	if len(s.Samples) == 0 {
		return Sample{}
	}
	walls := make([]time.Duration, len(s.Samples))
	rss := make([]int64, len(s.Samples))
	for i, x := range s.Samples {
		walls[i], rss[i] = x.Wall, x.MaxRSS
	}
	slices.Sort(walls)
	slices.Sort(rss)
	return Sample{Wall: walls[len(walls)/2], MaxRSS: rss[len(rss)/2]}
}

// Table prints rows of series compared with a baseline (the first series of each group).
type Table struct {
	rows [][]string
}

// Compare adds one row per series, each with its ratio to base.
func (t *Table) Compare(scenario string, base *Series, others ...*Series) {
	b := base.Median()
	for _, s := range append([]*Series{base}, others...) {
		m := s.Median()
		t.rows = append(t.rows, []string{
			scenario, s.Name, fmt.Sprint(len(s.Samples)),
			m.Wall.Round(time.Millisecond).String(), MiB(m.MaxRSS),
			fmt.Sprintf("%.2f×", float64(m.Wall)/float64(b.Wall)),
		})
	}
}

// Write prints the table.
func (t *Table) Write(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\ttool\truns\tmedian wall\tpeak RSS\twall vs first")
	for _, r := range t.rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

// MiB formats bytes as MiB.
func MiB(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// CacheDir returns ~/.cache/tagrelay/<sub> (TAGRELAY_CACHE overrides the root), created.
func CacheDir(sub string) (string, error) {
	root := os.Getenv("TAGRELAY_CACHE")
	if root == "" {
		c, err := os.UserCacheDir()
		if err != nil {
			return "", err
		}
		root = filepath.Join(c, "tagrelay")
	}
	dir := filepath.Join(root, sub)
	return dir, os.MkdirAll(dir, 0o755)
}

// GoInstall returns the path of a tool built with `go install [flags] pkg@version` into the tools
// cache, building it on first use. Every caller of one pkg@version must pass the same flags.
func GoInstall(pkg, version string, flags ...string) (string, error) {
	name := path.Base(pkg) // the binary go install writes: kustomize for …/kustomize/v5
	if m := path.Base(path.Dir(pkg)); len(name) > 1 && name[0] == 'v' && strings.Trim(name[1:], "0123456789") == "" {
		name = m
	}
	dir, err := CacheDir(filepath.Join("tools", name+"-"+version))
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, name)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	cmd := exec.Command("go", append(append([]string{"install"}, flags...), pkg+"@"+version)...)
	cmd.Env = append(os.Environ(), "GOBIN="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install %s@%s: %w\n%s", pkg, version, err, out)
	}
	return bin, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
