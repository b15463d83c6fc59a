// Command push compares `tagrelay push` with the tools a user would use instead, in the same run
// against the same local registries: crane (tag, copy, push) and skopeo (copy --all).
//
//	go run ./bench/push [-runs 5] [-mb 50] [-registry distribution|ggcr]
//
// Scenarios: (a) retag in one repository, (b) copy of a 3-platform index between two
// registries, (c) push of an OCI layout. For each it prints the median wall time over -runs
// runs, the requests the registries answered and the request bytes they received, and the ratio
// of tagrelay's median to each peer's. Tools run in turn within each run, so drift hits all.
// crane is installed with `go install` into ~/.cache/tagrelay/tools when missing, skopeo with
// apt-get; a tool that cannot be had is reported as skipped.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

func main() {
	var cfg config
	flag.IntVar(&cfg.runs, "runs", 5, "runs per tool and scenario")
	flag.IntVar(&cfg.mb, "mb", 50, "MB per platform of the copied and pushed images (3 platforms)")
	flag.StringVar(&cfg.registry, "registry", "auto", "registries to run: distribution (Debian's docker-registry), ggcr (in-process) or auto")
	flag.StringVar(&cfg.only, "only", "", "run only this scenario: retag, copy or push")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench/push:", err)
		os.Exit(1)
	}
}

type config struct {
	runs     int
	mb       int
	registry string
	only     string
}

func run(ctx context.Context, cfg config) error {
	work, err := os.MkdirTemp("", "bench-push-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	tools, notes := findTools(ctx, work)
	env, err := newRegistries(cfg.registry)
	if err != nil {
		return err
	}
	defer env.close()
	fmt.Printf("registries: %s; runs: %d; image: 3 platforms × %d MB\n", env.kind, cfg.runs, cfg.mb)
	for _, n := range notes {
		fmt.Println("note:", n)
	}
	var rows []row
	for _, sc := range scenarios(cfg) {
		if cfg.only != "" && cfg.only != sc.name {
			continue
		}
		fmt.Fprintf(os.Stderr, "scenario %s: preparing\n", sc.name)
		r, err := sc.measure(ctx, env, tools, cfg, filepath.Join(work, sc.name))
		if err != nil {
			return fmt.Errorf("scenario %s: %w", sc.name, err)
		}
		rows = append(rows, r...)
	}
	printTable(os.Stdout, rows)
	return nil
}
