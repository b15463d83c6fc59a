package reconcilertest_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tagrelay/tagrelay/internal/peertest"
	"github.com/tagrelay/tagrelay/internal/reconcilertest"
)

// TestPprofListen: --pprof-listen serves Go's runtime profiles on their own address (the heap
// profile an operator takes when memory grows), not argv (/cmdline), and the API's listener
// serves none of them.
func TestPprofListen(t *testing.T) {
	f := newFixture(t)
	ports, err := peertest.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	s := f.start("a", reconcilertest.Options{Args: []string{"--pprof-listen", addr}})
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("http://" + addr + "/debug/pprof/heap?debug=1"); code != http.StatusOK || !strings.Contains(body, "heap profile:") {
		t.Errorf("heap profile = %d %.80q, want 200 with the profile", code, body)
	}
	if code, body := get("http://" + addr + "/debug/pprof/goroutine?debug=1"); code != http.StatusOK || !strings.Contains(body, "goroutine profile:") {
		t.Errorf("goroutine profile = %d %.80q", code, body)
	}
	if code, body := get("http://" + addr + "/debug/pprof/cmdline"); code == http.StatusOK && strings.Contains(body, "--token-file") {
		t.Errorf("/cmdline shows the argv: %q", body)
	}
	if code, _ := get(s.URL + "/debug/pprof/heap?debug=1"); code == http.StatusOK {
		t.Errorf("the API listener serves profiles (%d)", code)
	}
	if !strings.Contains(s.Logs(), `"msg":"serving profiles"`) {
		t.Errorf("no 'serving profiles' line in the log")
	}
}
