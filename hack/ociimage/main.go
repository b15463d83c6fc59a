// Command ociimage builds the OCI image of the tagrelay CLIs without Docker: the binaries of
// each platform go into one layer (/usr/local/bin) appended to a base image, and the images
// into one index, written as an OCI image layout that `tagrelay push --source DIR` pushes.
//
//	go run ./hack/ociimage --bin dist/bin --version v0.1.0 --out dist/image [--base REF@sha256:…]
//
// --bin holds NAME-OS-ARCH files (make release-binaries) or plain NAME files of the host
// platform (make build). Without --base the image is FROM scratch (the binaries are static);
// the GitLab templates need sh and git in the image, so releases pass a base pinned by digest
// (alpine/git@sha256:…), pulled with the registry credentials of docker config.json.
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func main() {
	binDir := flag.String("bin", "dist/bin", "directory of the binaries")
	version := flag.String("version", "dev", "version label of the image")
	out := flag.String("out", "dist/image", "OCI image layout to write (replaced)")
	base := flag.String("base", "", "base image reference, pinned by digest; empty means scratch")
	flag.Parse()
	if err := run(*binDir, *version, *out, *base); err != nil {
		fmt.Fprintln(os.Stderr, "ociimage:", err)
		os.Exit(1)
	}
}

func run(binDir, version, out, base string) error {
	platforms, err := binaries(binDir)
	if err != nil {
		return err
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	var keys []string
	for k := range platforms {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	// One puller for every platform: one token handshake with the base's registry.
	puller, err := remote.NewPuller(remote.WithAuthFromKeychain(authn.DefaultKeychain))
	if err != nil {
		return err
	}
	for _, p := range keys {
		plat, _ := v1.ParsePlatform(p)
		img, err := image(platforms[p], plat, version, base, puller)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: plat}})
	}
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	lp, err := layout.Write(out, empty.Index)
	if err != nil {
		return err
	}
	if err := lp.AppendIndex(idx); err != nil {
		return err
	}
	d, _ := idx.Digest()
	fmt.Printf("wrote %s: %s (%s)\n", out, d, strings.Join(keys, ", "))
	return nil
}

// binaries groups the files of dir by platform: NAME-OS-ARCH, else the host's.
func binaries(dir string) (map[string]map[string]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]string{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasPrefix(e.Name(), "tagrelay") || strings.Contains(e.Name(), ".") {
			continue
		}
		n, plat := e.Name(), runtime.GOOS+"/"+runtime.GOARCH
		if parts := strings.Split(n, "-"); len(parts) >= 3 && parts[len(parts)-2] == "linux" {
			n, plat = strings.Join(parts[:len(parts)-2], "-"), "linux/"+parts[len(parts)-1]
		}
		if out[plat] == nil {
			out[plat] = map[string]string{}
		}
		out[plat][n] = filepath.Join(dir, e.Name())
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no tagrelay binaries in %s", dir)
	}
	return out, nil
}

func image(files map[string]string, plat *v1.Platform, version, base string, puller *remote.Puller) (v1.Image, error) {
	img := empty.Image
	if base != "" {
		ref, err := name.ParseReference(base)
		if err != nil {
			return nil, err
		}
		if _, ok := ref.(name.Digest); !ok {
			return nil, fmt.Errorf("base %s is not pinned by digest", base)
		}
		if img, err = remote.Image(ref, remote.WithPlatform(*plat), remote.Reuse(puller)); err != nil {
			return nil, err
		}
	}
	img = mutate.MediaType(mutate.ConfigMediaType(img, types.OCIConfigJSON), types.OCIManifestSchema1)
	layer, err := binLayer(files)
	if err != nil {
		return nil, err
	}
	if img, err = mutate.Append(img, mutate.Addendum{Layer: layer, MediaType: types.OCILayer}); err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created = plat.OS, plat.Architecture, v1.Time{Time: time.Unix(0, 0).UTC()}
	cf.Config.Entrypoint = []string{"/usr/local/bin/tagrelay"}
	cf.Config.Cmd = nil
	if cf.Config.Labels == nil {
		cf.Config.Labels = map[string]string{}
	}
	cf.Config.Labels["org.opencontainers.image.version"] = version
	cf.Config.Labels["org.opencontainers.image.source"] = "https://github.com/tagrelay/tagrelay"
	return mutate.ConfigFile(img, cf)
}

// binLayer is a reproducible tar of the binaries under usr/local/bin.
func binLayer(files map[string]string) (v1.Layer, error) {
	var names []string
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range []string{"usr/", "usr/local/", "usr/local/bin/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: time.Unix(0, 0)}); err != nil {
			return nil, err
		}
	}
	for _, n := range names {
		data, err := os.ReadFile(files[n])
		if err != nil {
			return nil, err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "usr/local/bin/" + n, Mode: 0o755, Size: int64(len(data)), ModTime: time.Unix(0, 0)}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
}
