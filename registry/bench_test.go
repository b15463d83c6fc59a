package registry_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/tagrelay/tagrelay/internal/regtest"
	"github.com/tagrelay/tagrelay/registry"
)

// BenchmarkPushLayout pushes a 3-platform OCI layout (3 × 1 MiB) to a fresh repository of an
// in-process registry.
func BenchmarkPushLayout(b *testing.B) {
	srv := regtest.New(b)
	idx := regtest.Index(b, 512<<10, 2, "linux/amd64", "linux/arm64", "linux/arm/v7")
	c, err := registry.NewClient(registry.DefaultClientOptions())
	if err != nil {
		b.Fatal(err)
	}
	dir := regtest.Layout(b, idx)
	src, err := c.OpenSource(context.Background(), dir)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(3 << 20)
	for i := 0; b.Loop(); i++ {
		if _, err := c.Push(context.Background(), src, fmt.Sprintf("%s/bench/app%d", srv.Host, i), []string{"v1"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRetag moves an index to a new tag of its repository: a manifest PUT.
func BenchmarkRetag(b *testing.B) {
	srv := regtest.New(b)
	srv.Write(b, "bench/app:base", regtest.Index(b, 1024, 1, "linux/amd64", "linux/arm64"))
	c, err := registry.NewClient(registry.DefaultClientOptions())
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; b.Loop(); i++ {
		src, err := c.OpenSource(context.Background(), srv.Host+"/bench/app:base")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Push(context.Background(), src, srv.Host+"/bench/app", []string{fmt.Sprintf("t%d", i)}); err != nil {
			b.Fatal(err)
		}
	}
}
