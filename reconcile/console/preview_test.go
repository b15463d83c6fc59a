package console

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tagrelay/tagrelay/internal/browsertest"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

var designDir = flag.String("design", "", "render the console over a synthetic fleet of 60 apps into PNGs in this directory (for working on the look)")

// TestDesign renders the pages over synthetic data, for looking at them while working on the
// stylesheet: go test ./reconcile/console -run TestDesign -design /tmp/design. The screenshots
// in docs/ come from TestConsoleInBrowser, over the real cluster.
func TestDesign(t *testing.T) {
	if *designDir == "" {
		t.Skip("pass -design DIR")
	}
	m := testBackend()
	m.apps = fleet(60)
	m.apps[3].Sync, m.apps[3].Pinned = api.SyncSynced, "8d41e07a9c"
	m.apps[5].Sync = api.SyncOutOfSync
	m.apps[7].Health, m.apps[7].Sync = api.HealthProgressing, api.SyncSyncing
	m.apps[9].Sync = api.SyncNoopRefused
	name := m.apps[0].Name
	m.trees[name] = bigTree(name, 24)
	m.trees[name].Nodes[3].Health, m.trees[name].Nodes[3].Message, m.trees[name].Nodes[3].Info = api.HealthDegraded, "Containers in CrashLoop state: web", "CrashLoopBackOff · 3 restarts"
	m.events[name] = []api.Event{{Object: m.trees[name].Nodes[3].ID, Type: "Warning", Reason: "BackOff", Message: "Back-off restarting failed container web", Count: 4, Last: time.Now()}}
	for i := range 6 {
		m.hist[name] = append(m.hist[name], api.SyncResult{Revision: fmt.Sprintf("%040x", i*99991), Trigger: "api", Status: api.StatusSucceeded,
			Started: time.Now().Add(-time.Duration(i) * time.Hour), Duration: api.Duration(4 * time.Second),
			Images: []api.ImageChange{{Object: "Deployment/ns/web", Container: "web", Before: fmt.Sprintf("reg/web:%07x", i+1), After: fmt.Sprintf("reg/web:%07x", i)}}})
	}
	_, srv := serve(t, m, false)
	tab := browsertest.New(t).Tab(t)
	browsertest.Do(t, tab, chromedp.Navigate(srv.URL+"/login"), chromedp.WaitVisible(chromedp.CSS("#token")))
	browsertest.Screenshot(t, tab, filepath.Join(*designDir, "login.png"))
	browsertest.Do(t, tab, chromedp.SendKeys(chromedp.CSS("#token"), adminToken), chromedp.Click(chromedp.CSS("form.card button")),
		chromedp.WaitVisible(chromedp.CSS("#apps")))
	browsertest.Screenshot(t, tab, filepath.Join(*designDir, "overview.png"))
	top := browsertest.Run(t, tab, chromedp.CaptureScreenshot())
	if err := os.WriteFile(filepath.Join(*designDir, "overview-top.png"), top, 0o644); err != nil {
		t.Fatal(err)
	}
	for i, p := range []string{"", "?node=" + m.trees[name].Nodes[3].ID, "/diff", "/history", "/events", "/logs"} {
		browsertest.Do(t, tab, chromedp.Navigate(srv.URL+"/apps/"+name+p), chromedp.WaitVisible(chromedp.CSS(".tab")))
		browsertest.Screenshot(t, tab, filepath.Join(*designDir, fmt.Sprintf("app%d.png", i)))
	}
	browsertest.Do(t, tab, chromedp.Click(chromedp.CSS(`#app-header a[href$="/sync"]`)), chromedp.WaitVisible(chromedp.CSS("dialog #confirm")))
	browsertest.Screenshot(t, tab, filepath.Join(*designDir, "dialog.png"))
}
