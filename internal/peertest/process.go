package peertest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Group is the set of processes of one peer (Flux's controllers, Argo CD's components), with
// their logs in Dir/logs/<name>.log. They die with the test binary even when it is killed, and
// Stop ends them in reverse order.
type Group struct {
	// Dir is a new temporary directory for the peer's logs and data.
	Dir string

	procs   []*Process
	spawner chan func()
	stopped bool
}

// NewGroup creates a group and its directory, named after prefix.
func NewGroup(prefix string) (*Group, error) {
	dir, err := os.MkdirTemp("", prefix+"-")
	if err != nil {
		return nil, err
	}
	if err := os.Mkdir(filepath.Join(dir, "logs"), 0o700); err != nil {
		return nil, err
	}
	return &Group{Dir: dir}, nil
}

// Process is one running component.
type Process struct {
	// Name names the component and its log file.
	Name string
	// Log is the path of its combined stdout and stderr.
	Log string

	cmd  *exec.Cmd
	done chan struct{}
	err  error // set when done is closed
}

// Start runs bin with args and env (added to the test's environment), its output in
// logs/<name>.log.
func (g *Group) Start(name string, env []string, bin string, args ...string) (*Process, error) {
	logPath := filepath.Join(g.Dir, "logs", name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	// Die with the test binary even when it is killed before Stop runs; a process group of its
	// own so a terminal's ^C reaches the test binary first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := g.spawn(cmd.Start); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &Process{Name: name, Log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	g.procs = append(g.procs, p)
	return p, nil
}

// spawn runs start on the group's own OS thread: Pdeathsig fires when the thread that forked the
// child exits (golang/go#27505), and Go retires the thread of a locked goroutine that ends. This
// one stays locked and alive until Stop.
func (g *Group) spawn(start func() error) error {
	if g.spawner == nil {
		g.spawner = make(chan func())
		go func() {
			runtime.LockOSThread()
			for f := range g.spawner {
				f()
			}
		}()
	}
	errc := make(chan error, 1)
	g.spawner <- func() { errc <- start() }
	return <-errc
}

// Processes returns the processes started so far.
func (g *Group) Processes() []*Process { return append([]*Process(nil), g.procs...) }

// Exited returns an error naming the first process that is no longer running, with the end of
// its log, or nil.
func (g *Group) Exited() error {
	for _, p := range g.procs {
		if err := p.Exited(); err != nil {
			return err
		}
	}
	return nil
}

// Stop stops every process (SIGTERM, then SIGKILL after 5 s) and removes Dir unless keep. It is
// safe to call twice.
func (g *Group) Stop(keep bool) error {
	if g == nil || g.stopped {
		return nil
	}
	g.stopped = true
	for i := len(g.procs) - 1; i >= 0; i-- {
		g.procs[i].stop(5 * time.Second)
	}
	if g.spawner != nil {
		close(g.spawner) // its thread exits only now that every child is gone
	}
	if keep {
		return nil
	}
	return os.RemoveAll(g.Dir)
}

// Exited returns an error with the end of the log when the process has exited, else nil.
func (p *Process) Exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited (%v): %s", p.Name, p.err, p.Tail(5))
	default:
		return nil
	}
}

// Pid returns the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// RSS returns the resident set size of the running process, from /proc.
func (p *Process) RSS() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid()))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// WaitHTTP polls url until it answers 200, the process exits or ctx ends.
func (p *Process) WaitHTTP(ctx context.Context, client *http.Client, url string) error {
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return p.Exited()
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s at %s: %w (log: %s)", p.Name, url, ctx.Err(), p.Tail(5))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Tail returns the last n lines of the process's log, on one line.
func (p *Process) Tail(n int) string {
	b, _ := os.ReadFile(p.Log)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

func (p *Process) stop(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// FreePorts asks the kernel for n free ports on 127.0.0.1. They are released before use, so a
// race with another process is possible but rare; the peer then fails to start, loudly.
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
