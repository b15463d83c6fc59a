package registry

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/tagrelay/tagrelay/internal/redact"
)

// Stats count what one push did on the wire, as seen by the client.
type Stats struct {
	Requests      int64 `json:"requests"`      // HTTP requests, retries and handshakes included
	BlobsUploaded int64 `json:"blobsUploaded"` // blob uploads completed (PUT …/blobs/uploads/…?digest=)
	BlobsMounted  int64 `json:"blobsMounted"`  // blobs mounted from another repository (201 to POST ?mount=)
	MountsRefused int64 `json:"mountsRefused"` // mounts the registry refused (Harbor: 401); uploaded instead
	BlobsPresent  int64 `json:"blobsPresent"`  // blobs found already present (200 to HEAD …/blobs/…)
	BytesSent     int64 `json:"bytesSent"`     // request body bytes sent
}

type statsKey struct{}

func withStats(ctx context.Context, s *Stats) context.Context {
	return context.WithValue(ctx, statsKey{}, s)
}

// observer sits under ggcr's retry and auth transports: it sees every attempt on the wire,
// counts it into the Stats of the request's context and logs it at debug level.
//
// It also bounds the blob uploads in flight to the client's Jobs: ggcr bounds the children of
// an index and the layers of each image separately, which allows Jobs² at once. (Downloads,
// the source side of a copy, are bounded by ggcr's own pull limiter.)
type observer struct {
	inner   http.RoundTripper
	log     *slog.Logger
	uploads chan struct{}
}

func (o *observer) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPatch || (req.Method == http.MethodPut && req.ContentLength > 0 && strings.Contains(req.URL.Path, "/blobs/uploads/")) {
		select {
		case o.uploads <- struct{}{}:
			defer func() { <-o.uploads }()
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
	}
	st, _ := req.Context().Value(statsKey{}).(*Stats)
	if st != nil && req.Body != nil && req.ContentLength < 0 {
		// Only bodies of unknown length are wrapped: wrapping a file would keep net/http from
		// sending it with sendfile(2).
		req = req.Clone(req.Context())
		req.Body = &countingBody{ReadCloser: req.Body, n: &st.BytesSent}
	}
	resp, err := o.inner.RoundTrip(req)
	if st != nil && err == nil && req.ContentLength > 0 {
		atomic.AddInt64(&st.BytesSent, req.ContentLength)
	}
	if o.log.Enabled(req.Context(), slog.LevelDebug) {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		o.log.Debug("registry request", "method", req.Method, "url", redact.URL(req.URL.String()), "status", status, "error", err)
	}
	if st == nil || err != nil {
		return resp, err
	}
	atomic.AddInt64(&st.Requests, 1)
	count(st, req, resp.StatusCode)
	return resp, err
}

func count(st *Stats, req *http.Request, status int) {
	path := req.URL.Path
	switch {
	case req.Method == http.MethodHead && strings.Contains(path, "/blobs/sha256:") && status == http.StatusOK:
		atomic.AddInt64(&st.BlobsPresent, 1)
	case req.Method == http.MethodPost && strings.HasSuffix(path, "/blobs/uploads/") && req.URL.Query().Has("mount"):
		switch {
		case status == http.StatusCreated:
			atomic.AddInt64(&st.BlobsMounted, 1)
		case req.URL.Query().Get("from") != "" && status != http.StatusAccepted:
			atomic.AddInt64(&st.MountsRefused, 1)
		}
	case req.Method == http.MethodPut && strings.Contains(path, "/blobs/uploads/") && status == http.StatusCreated:
		atomic.AddInt64(&st.BlobsUploaded, 1)
	}
}

type countingBody struct {
	io.ReadCloser
	n *int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	atomic.AddInt64(b.n, int64(n))
	return n, err
}
