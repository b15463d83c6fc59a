// Package browsertest drives a real browser from Go tests: Debian's chromium, headless, through
// the Chrome DevTools protocol with chromedp (the maintained Go driver of the protocol, what
// the Go ecosystem uses for browser tests without Node).
//
//	b := browsertest.New(t)   // one chromium per test (skips under -short)
//	tab := b.Tab(t)           // a tab in a browser context of its own (own cookies)
//	browsertest.Do(t, tab, chromedp.Navigate(url))
//	title := browsertest.Run(t, tab, chromedp.Text(chromedp.CSS("h1")))
//
// Chromium runs with an empty profile in a temporary directory, without sandbox (tests run as
// root), GPU, QUIC or any background network traffic, so a test talks to 127.0.0.1 only. An
// uncaught JavaScript exception in a page fails the test; console and log messages are kept
// (Tab.Messages) for tests that assert on them, e.g. a Content-Security-Policy violation.
//
// This is chromedp's generic API (v0.20 and later): an action returns its value, Do runs actions
// that return none.
package browsertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Timeout bounds one Do or Run.
const Timeout = 60 * time.Second

// Browser is a headless chromium process.
type Browser struct {
	ctx context.Context // the first tab's; new tabs open in the same process
}

// Path returns the chromium binary: $PATH's chromium, else chromium-browser.
func Path() (string, error) {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("chromium not found: install it (hack/deps.sh, or apt-get install -y chromium)")
}

// New starts chromium for one test and stops it when the test ends. It skips the test under
// -short and fails it when chromium is not installed.
func New(t testing.TB) *Browser {
	t.Helper()
	if testing.Short() {
		t.Skip("needs chromium; skipped under -short")
	}
	path, err := Path()
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-features", "Translate,BlinkGenPropertyTrees,MediaRouter,OptimizationHints"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 900),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	browser, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	if err := chromedp.Do(browser); err != nil { // starts chromium
		t.Fatalf("starting chromium: %v", err)
	}
	return &Browser{ctx: browser}
}

// Tab is one browser tab. Its context runs chromedp actions.
type Tab struct {
	context.Context
	mu       sync.Mutex
	messages []string
}

// Messages returns the tab's console messages and browser log entries so far ("type: text").
func (tab *Tab) Messages() []string {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	return append([]string(nil), tab.messages...)
}

// Tab opens a tab in a new browser context (an incognito-like profile: its own cookies), closed
// when the test ends. An uncaught exception in any of its pages fails the test.
func (b *Browser) Tab(t testing.TB) *Tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	done := make(chan struct{})
	t.Cleanup(func() {
		cancel()
		<-done // no t.Errorf after the test
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser and opens the tab
		close(done)
		t.Fatalf("starting chromium: %v", err)
	}
	tab := &Tab{Context: ctx}
	messages := chromedp.Console(ctx)
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() {
				t.Errorf("browser: uncaught exception at %s:%d: %s", m.URL, m.Line+1, m.Text)
			}
			tab.mu.Lock()
			tab.messages = append(tab.messages, m.String())
			tab.mu.Unlock()
		}
	}()
	return tab
}

// Do runs actions in the tab with a deadline and fails the test on error.
func Do(t testing.TB, tab *Tab, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.Context, Timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

// Run runs one action in the tab with a deadline, fails the test on error and returns the
// action's value.
func Run[T any](t testing.TB, tab *Tab, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.Context, Timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Screenshot saves a PNG of the whole page (beyond the window) to path.
func Screenshot(t testing.TB, tab *Tab, path string) {
	t.Helper()
	png := Run(t, tab, chromedp.FullScreenshot(100))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Count counts the elements that match a CSS selector (0 when none).
func Count(t testing.TB, tab *Tab, css string) int {
	t.Helper()
	return Run(t, tab, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", css)))
}

// RunErr runs actions in the tab with a deadline (Timeout) and returns their error.
func RunErr(tab *Tab, actions ...chromedp.Action[chromedp.Void]) error {
	return RunErrWithin(tab, Timeout, actions...)
}

// RunErrWithin runs actions in the tab with deadline d and returns their error: for a wait
// longer than Timeout (a chromedp.Poll's own timeout does not outlive the context's).
func RunErrWithin(tab *Tab, d time.Duration, actions ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(tab.Context, d)
	defer cancel()
	return chromedp.Do(ctx, actions...)
}
