package mirror_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/tagrelay/tagrelay/internal/gittest"
	"github.com/tagrelay/tagrelay/mirror"
)

// Mirror the main branch of an external repository into an internal one, twice: the second run
// has nothing to do and says so.
func ExampleSync() {
	external, _ := gittest.Start()
	defer external.Close()
	internal, _ := gittest.Start()
	defer internal.Close()
	external.CreateRepo("org/app")
	internal.CreateRepo("team/app")
	external.Commit("org/app", "main", "first", map[string]string{"README": "app\n"})
	cache, _ := os.MkdirTemp("", "mirror-cache-")
	defer os.RemoveAll(cache)

	src := mirror.Remote{URL: external.RepoURL("org/app")}
	dst := mirror.Remote{URL: internal.RepoURL("team/app")}
	opts := mirror.Options{Refs: []string{"main"}, PushOptions: []string{"ci.skip"}, CacheDir: cache}
	res, err := mirror.Sync(context.Background(), src, dst, opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range res.Changes {
		fmt.Println(c.Action, c.Ref)
	}
	_, err = mirror.Sync(context.Background(), src, dst, opts)
	fmt.Println(errors.Is(err, mirror.ErrUnchanged))
	// Output:
	// create refs/heads/main
	// true
}
