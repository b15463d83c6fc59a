package browsertest_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tagrelay/tagrelay/internal/browsertest"
)

// TestTab loads a page whose script writes the heading and logs a line, and reads both back:
// chromium starts headless as root with an empty profile, runs scripts, and the tab keeps the
// console.
func TestTab(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(`<!doctype html><h1 id="h">static</h1><script>document.getElementById("h").textContent = "scripted"; console.log("hello from the page")</script>`))
	}))
	defer ts.Close()
	tab := browsertest.New(t).Tab(t)
	browsertest.Do(t, tab, chromedp.Navigate(ts.URL))
	if got := browsertest.Run(t, tab, chromedp.Text(chromedp.CSS("#h"))); got != "scripted" {
		t.Errorf("heading = %q, want the script's text", got)
	}
	if n := browsertest.Count(t, tab, "h1"); n != 1 {
		t.Errorf("Count(h1) = %d, want 1", n)
	}
	ok := slices.ContainsFunc(tab.Messages(), func(m string) bool { return strings.Contains(m, "hello from the page") })
	if !ok {
		t.Errorf("Messages() = %q, want the page's console.log", tab.Messages())
	}
}
