package reconcile_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/reconcile"
)

// A pipeline's deploy step: sync one app, expecting the image it just built. A refused no-op is
// errdefs.ErrNoop (the CLI exits 3); the result says what ran before and after.
func ExampleReconciler_Sync() {
	cfg, err := reconcile.LoadConfig("apps.yaml")
	if err != nil {
		log.Fatal(err)
	}
	app, err := cfg.App("web")
	if err != nil {
		log.Fatal(err)
	}
	rest, err := clientcmd.BuildConfigFromFlags("", "kubeconfig")
	if err != nil {
		log.Fatal(err)
	}
	r, err := reconcile.New(rest, reconcile.Options{CacheDir: "/var/cache/tagrelay"})
	if err != nil {
		log.Fatal(err)
	}
	res, err := r.Sync(context.Background(), app, reconcile.SyncOptions{
		Trigger: reconcile.TriggerCLI, Guard: true, ExpectImage: "harbor.example/team/web:1a2b3c4d"})
	if errors.Is(err, errdefs.ErrNoop) {
		fmt.Println("refused:", err)
		return
	}
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range res.Images {
		fmt.Printf("%s %s: %s -> %s\n", c.Object, c.Container, c.Before, c.After)
	}
}
