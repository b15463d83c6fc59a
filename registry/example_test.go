package registry_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/tagrelay/tagrelay/internal/regtest"
	"github.com/tagrelay/tagrelay/registry"
)

func ExampleClient_Push() {
	srv, _ := regtest.Start()
	defer srv.Close()
	dir, _ := layout.Write(exampleDir(), empty.Index)
	_ = dir.AppendImage(empty.Image)

	c, _ := registry.NewClient(registry.DefaultClientOptions())
	ctx := context.Background()
	src, _ := c.OpenSource(ctx, string(dir))
	defer src.Close()

	res, err := c.Push(ctx, src, srv.Host+"/team/app", []string{"1a2b3c4d"})
	fmt.Println(res.Mode, res.Tags[0].Tag, res.Tags[0].Action, err)

	// The same digest again under the same tag is a refused no-op: nothing is written.
	_, err = c.Push(ctx, src, srv.Host+"/team/app", []string{"1a2b3c4d"})
	fmt.Println(errors.Is(err, registry.ErrUnchanged))

	// A retag in the same repository is one manifest PUT.
	retag, _ := c.OpenSource(ctx, srv.Host+"/team/app:1a2b3c4d")
	res, _ = c.Push(ctx, retag, srv.Host+"/team/app", []string{"v1.0.0"})
	fmt.Println(res.Mode, res.Stats.BlobsUploaded)

	d, _ := c.Digest(ctx, srv.Host+"/team/app:v1.0.0")
	fmt.Println(d == res.Digest)
	// Output:
	// upload 1a2b3c4d create <nil>
	// true
	// tag 0
	// true
}
