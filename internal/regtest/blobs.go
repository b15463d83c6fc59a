package regtest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"path"
	"strings"
	"sync"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// repoBlobs is a BlobHandler that stores each blob once but makes it visible only in the
// repositories it was uploaded or mounted to, like distribution's per-repository links. ggcr's
// own handlers share every blob across repositories, which would hide mounts.
type repoBlobs struct {
	mu    sync.RWMutex
	data  map[v1.Hash][]byte
	links map[string]map[v1.Hash]bool // repo → digests
}

var (
	_ ggcrregistry.BlobStatHandler = (*repoBlobs)(nil)
	_ ggcrregistry.BlobPutHandler  = (*repoBlobs)(nil)
)

func newRepoBlobs() *repoBlobs {
	return &repoBlobs{data: map[v1.Hash][]byte{}, links: map[string]map[v1.Hash]bool{}}
}

func (b *repoBlobs) Stat(_ context.Context, repo string, h v1.Hash) (int64, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if !b.links[repo][h] {
		return 0, ggcrregistry.ErrNotFound
	}
	return int64(len(b.data[h])), nil
}

func (b *repoBlobs) Get(_ context.Context, repo string, h v1.Hash) (io.ReadCloser, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if !b.links[repo][h] {
		return nil, ggcrregistry.ErrNotFound
	}
	return io.NopCloser(bytes.NewReader(b.data[h])), nil
}

func (b *repoBlobs) Put(_ context.Context, repo string, h v1.Hash, rc io.ReadCloser) error {
	defer rc.Close()
	// ggcr names the repository of an upload (/v2/<name>/blobs/uploads/<id>) "<name>/blobs".
	repo = strings.TrimSuffix(repo, "/blobs")
	data, err := io.ReadAll(rc)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.data[h] = data
	b.link(repo, h)
	return nil
}

func (b *repoBlobs) link(repo string, h v1.Hash) {
	if b.links[repo] == nil {
		b.links[repo] = map[v1.Hash]bool{}
	}
	b.links[repo][h] = true
}

// mount links h from repository from into repo, reporting whether from had it.
func (b *repoBlobs) mount(repo, from string, h v1.Hash) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.links[from][h] {
		return false
	}
	b.link(repo, h)
	return true
}

// mountHandler implements cross-repository blob mounts
// (POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<repository>), which ggcr's registry does
// not: 201 when the source repository has the blob, else the request goes on as a normal upload.
func (b *repoBlobs) mountHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		repo, ok := uploadRepo(r)
		q := r.URL.Query()
		if !ok || q.Get("mount") == "" || q.Get("from") == "" {
			next.ServeHTTP(w, r)
			return
		}
		h, err := v1.NewHash(q.Get("mount"))
		if err == nil && b.mount(r.URL.Host+repo, r.URL.Host+q.Get("from"), h) {
			w.Header().Set("Location", "/v2/"+repo+"/blobs/"+h.String())
			w.Header().Set("Docker-Content-Digest", h.String())
			w.WriteHeader(http.StatusCreated)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// uploadRepo returns <name> of a POST /v2/<name>/blobs/uploads/.
func uploadRepo(r *http.Request) (string, bool) {
	if r.Method != http.MethodPost {
		return "", false
	}
	p := strings.TrimSuffix(r.URL.Path, "/")
	rest, ok := strings.CutPrefix(p, "/v2/")
	if !ok {
		return "", false
	}
	repo, ok := strings.CutSuffix(rest, "/blobs/uploads")
	return path.Clean(repo), ok && repo != ""
}
