package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/tagrelay/tagrelay/internal/regtest"
)

// registries are the two local registries of a run: a source and a destination.
type registries struct {
	kind     string
	start    func() (*regtest.Server, error)
	src, dst *regtest.Server
}

func newRegistries(kind string) (*registries, error) {
	start := func() (*regtest.Server, error) { return regtest.Start() }
	if kind == "auto" || kind == "distribution" {
		bin, err := regtest.FindDistribution(true)
		switch {
		case err == nil:
			kind = "distribution (Debian docker-registry, filesystem storage)"
			start = func() (*regtest.Server, error) { return regtest.StartDistribution(bin) }
		case kind == "distribution":
			return nil, err
		default:
			kind = "ggcr in-process (" + err.Error() + ")"
		}
	} else {
		kind = "ggcr in-process"
	}
	src, err := start()
	if err != nil {
		return nil, err
	}
	dst, err := start()
	if err != nil {
		src.Close()
		return nil, err
	}
	return &registries{kind: kind, start: start, src: src, dst: dst}, nil
}

// renewDst replaces the destination by an empty registry, so that no tool finds blobs left by
// an earlier run (skopeo remembers where it saw blobs and would mount them from there).
func (r *registries) renewDst() error {
	r.dst.Close()
	dst, err := r.start()
	if err != nil {
		return err
	}
	r.dst = dst
	return nil
}

func (r *registries) close() {
	r.src.Close()
	r.dst.Close()
}

func (r *registries) reset() {
	r.src.Reset()
	r.dst.Reset()
}

// scenario is one comparison: prepare once, then each tool's command for run i.
type scenario struct {
	name    string
	scale   int  // runs = -runs × scale: the retag takes 50 ms, and start-up noise needs more samples
	fresh   bool // every run gets an empty destination registry
	prepare func(ctx context.Context, env *registries, cfg config, dir string) error
	cmds    func(env *registries, t tools, dir string, i int) []toolCmd
}

type toolCmd struct {
	tool string
	argv []string
}

func scenarios(cfg config) []scenario {
	return []scenario{
		{
			name:  "retag",
			scale: 4,
			prepare: func(ctx context.Context, env *registries, cfg config, _ string) error {
				idx, err := regtest.NewIndex(1<<20, 2, "linux/amd64", "linux/arm64", "linux/arm/v7")
				if err != nil {
					return err
				}
				return seed(env.dst, "bench/retag:base", idx)
			},
			cmds: func(env *registries, t tools, _ string, i int) []toolCmd {
				src := env.dst.Host + "/bench/retag:base"
				return []toolCmd{
					{"tagrelay", []string{t.tagrelay, "--source", src, "--dest", env.dst.Host + "/bench/retag", "--tag", fmt.Sprintf("t%d", i), "--log-level", "error"}},
					{"crane tag", []string{t.crane, "tag", src, fmt.Sprintf("c%d", i)}},
				}
			},
		},
		{
			name:  "copy",
			fresh: true,
			prepare: func(ctx context.Context, env *registries, cfg config, _ string) error {
				idx, err := bigIndex(cfg)
				if err != nil {
					return err
				}
				return seed(env.src, "bench/src:v1", idx)
			},
			cmds: func(env *registries, t tools, _ string, i int) []toolCmd {
				src := env.src.Host + "/bench/src:v1"
				dst := func(tool string) string { return fmt.Sprintf("%s/copy/%s-%d", env.dst.Host, tool, i) }
				return []toolCmd{
					{"tagrelay", []string{t.tagrelay, "--source", src, "--dest", dst("tagrelay"), "--tag", "v1", "--log-level", "error"}},
					{"crane copy", []string{t.crane, "copy", src, dst("crane") + ":v1"}},
					{"skopeo copy --all", []string{t.skopeo, "--insecure-policy", "copy", "--all", "--src-tls-verify=false", "--dest-tls-verify=false", "--quiet",
						"docker://" + src, "docker://" + dst("skopeo") + ":v1"}},
				}
			},
		},
		{
			name:  "push",
			fresh: true,
			prepare: func(ctx context.Context, env *registries, cfg config, dir string) error {
				idx, err := bigIndex(cfg)
				if err != nil {
					return err
				}
				return regtest.WriteLayout(dir, idx)
			},
			cmds: func(env *registries, t tools, dir string, i int) []toolCmd {
				dst := func(tool string) string { return fmt.Sprintf("%s/push/%s-%d", env.dst.Host, tool, i) }
				return []toolCmd{
					{"tagrelay", []string{t.tagrelay, "--source", dir, "--dest", dst("tagrelay"), "--tag", "v1", "--log-level", "error"}},
					{"crane push", []string{t.crane, "push", dir, dst("crane") + ":v1"}},
				}
			},
		},
	}
}

// bigIndex is the 3-platform image of (b) and (c): two layers of mb/2 MB of random (so
// incompressible) bytes per platform.
func bigIndex(cfg config) (v1.ImageIndex, error) {
	return regtest.NewIndex(int64(cfg.mb)<<19, 2, "linux/amd64", "linux/arm64", "linux/arm/v7")
}

func seed(srv *regtest.Server, ref string, idx v1.ImageIndex) error {
	r, err := name.ParseReference(srv.Host + "/" + ref)
	if err != nil {
		return err
	}
	return remote.Push(r, idx, remote.WithTransport(srv.Transport()))
}

// sample is one timed run of one tool.
type sample struct {
	wall     time.Duration
	requests int
	bytes    int64
}

// measure prepares the scenario and runs every available tool cfg.runs times, in turn.
func (sc scenario) measure(ctx context.Context, env *registries, t tools, cfg config, dir string) ([]row, error) {
	if err := sc.prepare(ctx, env, cfg, dir); err != nil {
		return nil, err
	}
	samples := map[string][]sample{}
	var order []string
	for i := 0; i < cfg.runs*max(sc.scale, 1); i++ {
		for k := range sc.cmds(env, t, dir, i) {
			if sc.fresh {
				if err := env.renewDst(); err != nil {
					return nil, err
				}
			}
			c := sc.cmds(env, t, dir, i)[k]
			if c.argv[0] == "" {
				continue
			}
			if i == 0 {
				order = append(order, c.tool)
			}
			s, err := runOnce(ctx, env, c.argv)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", c.tool, err)
			}
			samples[c.tool] = append(samples[c.tool], s)
		}
	}
	var rows []row
	for _, tool := range order {
		rows = append(rows, summarize(sc.name, tool, samples[tool]))
	}
	return rows, nil
}

func runOnce(ctx context.Context, env *registries, argv []string) (sample, error) {
	env.reset()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "HOME="+os.TempDir(), "DOCKER_CONFIG="+os.TempDir()+"/bench-push-no-docker-config")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	wall := time.Since(start)
	if err != nil {
		return sample{}, fmt.Errorf("%v: %s", err, lastLine(out))
	}
	reqs := len(env.src.Requests()) + len(env.dst.Requests())
	return sample{wall: wall, requests: reqs, bytes: env.src.BytesIn() + env.dst.BytesIn()}, nil
}
