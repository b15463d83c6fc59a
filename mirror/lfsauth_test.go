package mirror

import (
	"context"
	"net/http"
	"testing"

	"github.com/tagrelay/tagrelay/internal/gitauth"
)

// TestLFSCredentialsStayHome: a side's token goes to its own LFS server only; a link elsewhere
// (object storage, a CDN, a hostile source pointing at someone else) gets only the headers the
// server gave with it.
func TestLFSCredentialsStayHome(t *testing.T) {
	t.Parallel()
	s := &syncer{}
	side := lfsSide{name: "source", endpoint: "https://git.example/g/app.git/info/lfs", creds: gitauth.Credentials{Username: "u", Password: "secret"}}
	tests := []struct {
		name, href string
		header     map[string]string
		want       string
	}{
		{"same server", "https://git.example/g/app.git/info/lfs/objects/abc", nil, side.creds.Header()},
		{"same host, plain http", "http://git.example/g/app.git/info/lfs/objects/abc", nil, ""},
		{"other host", "https://storage.example/bucket/abc?sig=x", nil, ""},
		{"other port", "https://git.example:8443/abc", nil, ""},
		{"the server's own header", "https://storage.example/abc", map[string]string{"Authorization": "Bearer signed"}, "Bearer signed"},
	}
	for _, tc := range tests {
		req, err := s.lfsRequest(context.Background(), side, http.MethodGet, &lfsLink{Href: tc.href, Header: tc.header}, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := req.Header.Get("Authorization"); got != tc.want {
			t.Errorf("%s: Authorization = %q, want %q", tc.name, got, tc.want)
		}
	}
	// Hop-by-hop headers of a link (Gitea sends Transfer-Encoding: chunked) are not copied.
	req, _ := s.lfsRequest(context.Background(), side, http.MethodPut, &lfsLink{Href: "https://git.example/x", Header: map[string]string{"Transfer-Encoding": "chunked"}}, nil)
	if req.Header.Get("Transfer-Encoding") != "" {
		t.Errorf("Transfer-Encoding header copied")
	}
	for _, bad := range []string{"file:///etc/passwd", "ftp://git.example/x", "https:///nohost", "::"} {
		if _, err := s.lfsRequest(context.Background(), side, http.MethodGet, &lfsLink{Href: bad}, nil); err == nil {
			t.Errorf("link %q accepted", bad)
		}
	}
}
