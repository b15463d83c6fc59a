package reconcile_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/tagrelay/tagrelay/internal/kubetest"
	"github.com/tagrelay/tagrelay/internal/yamltest"
	"github.com/tagrelay/tagrelay/reconcile"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

// scaleApps returns n apps spread over repos repositories of f's git server (created here,
// each app a ConfigMap named after it in f.ns, which they share), committed once.
func (f *fixture) scaleApps(n, repos int) []reconcile.App {
	f.t.Helper()
	files := make([]map[string]string, repos)
	cfg := reconcile.Config{}
	for i := range n {
		name := fmt.Sprintf("a%03d", i)
		r := i % repos
		if files[r] == nil {
			files[r] = map[string]string{}
		}
		files[r]["apps/"+name+"/cm.yaml"] = configMapYAML(name)
		cfg.Apps = append(cfg.Apps, reconcile.App{Name: name, Repo: f.git.RepoURL(fmt.Sprintf("scale-%02d", r)), Path: "apps/" + name,
			Namespace: f.ns, SharedNamespace: true, Timeout: reconcile.Duration(time.Minute),
			Auth: reconcile.Auth{Username: gitUser, TokenEnv: "TOKEN"}})
	}
	for r := range repos {
		repo := fmt.Sprintf("scale-%02d", r)
		f.git.MustCreateRepo(f.t, repo)
		f.git.MustCommit(f.t, repo, "main", "apps", files[r])
	}
	if err := cfg.Validate(); err != nil {
		f.t.Fatal(err)
	}
	if err := cfg.ResolveCredentials(func(string) string { return gitToken }); err != nil {
		f.t.Fatal(err)
	}
	return cfg.Apps
}

// applySpans records, from the API server traffic of a Reconciler, when each app applied its
// ConfigMap: the first and last apply request (dry run and apply) of the object named after it.
// A sync sends them while it holds its pool slot, so spans that overlap are syncs that ran at
// once.
type applySpans struct {
	mu    sync.Mutex
	spans map[string][2]time.Time
}

func (a *applySpans) wrap(next http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.Method != http.MethodPatch || !strings.Contains(r.URL.Path, "/configmaps/") {
			return next.RoundTrip(r)
		}
		name := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
		start := time.Now()
		resp, err := next.RoundTrip(r)
		end := time.Now()
		a.mu.Lock()
		s, ok := a.spans[name]
		if !ok || start.Before(s[0]) {
			s[0] = start
		}
		if end.After(s[1]) {
			s[1] = end
		}
		a.spans[name] = s
		a.mu.Unlock()
		return resp, err
	})
}

// maxOverlap returns the most spans open at one instant.
func (a *applySpans) maxOverlap() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	type edge struct {
		at   time.Time
		open int
	}
	var edges []edge
	for _, s := range a.spans {
		edges = append(edges, edge{s[0], 1}, edge{s[1], -1})
	}
	sort.Slice(edges, func(i, j int) bool {
		if edges[i].at.Equal(edges[j].at) {
			return edges[i].open < edges[j].open // a span ending as another starts does not overlap it
		}
		return edges[i].at.Before(edges[j].at)
	})
	n, most := 0, 0
	for _, e := range edges {
		n += e.open
		most = max(most, n)
	}
	return most
}

// TestSyncPoolBound: 200 apps over 10 repositories, all due at once when the server starts, are
// all deployed, and the API server never sees more of them applying at the same time than the
// pool's size.
func TestSyncPoolBound(t *testing.T) {
	f := newFixture(t)
	apps := f.scaleApps(200, 10)
	spans := &applySpans{spans: map[string][2]time.Time{}}
	cfg := rest.CopyConfig(kubetest.Shared(t).RESTConfig())
	cfg.Wrap(spans.wrap)
	r, err := reconcile.New(cfg, reconcile.Options{Namespace: f.sys, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	f.r = r
	const pool = 4
	s, _ := f.serveConfig(&reconcile.Config{Apps: apps}, reconcile.ServerOptions{Interval: time.Hour, MaxConcurrentSyncs: pool,
		FirstRoundSpread: time.Millisecond})
	waitFor(t, "200 apps deployed", func() bool {
		return metric(t, s, "tagrelay_reconciler_syncs_total", "", "Succeeded") >= 200
	})
	spans.mu.Lock()
	applied := len(spans.spans)
	spans.mu.Unlock()
	most := spans.maxOverlap()
	t.Logf("%d apps applied, at most %d at once (pool %d)", applied, most, pool)
	if applied != 200 {
		t.Errorf("%d apps applied their ConfigMap, want 200", applied)
	}
	if most > pool {
		t.Errorf("%d syncs applied at once, more than the pool's %d", most, pool)
	}
	if most < 2 {
		t.Errorf("at most %d sync applied at once: the pool of %d ran them one by one", most, pool)
	}
	if failed := metric(t, s, "tagrelay_reconciler_syncs_total", "", "Failed"); failed > 0 {
		t.Errorf("%v syncs failed", failed)
	}
}

// TestOneListingPerRepository: 50 apps of one repository cost one ls-remote per poll interval,
// as the git server's request log shows, and every app is still polled each round.
func TestOneListingPerRepository(t *testing.T) {
	f := newFixture(t)
	apps := f.scaleApps(50, 1)
	const interval = 300 * time.Millisecond
	s, _ := f.serveConfig(&reconcile.Config{Apps: apps}, reconcile.ServerOptions{Interval: interval, FirstRoundSpread: time.Millisecond})
	waitFor(t, "50 apps deployed", func() bool {
		return metric(t, s, "tagrelay_reconciler_syncs_total", "", "Succeeded") >= 50
	})
	before := map[string]float64{}
	for _, a := range apps {
		before[a.Name] = metric(t, s, "tagrelay_reconciler_polls_total", a.Name, "unchanged")
	}
	f.git.ResetRequests()
	start := time.Now()
	time.Sleep(10 * interval)
	elapsed := time.Since(start)
	listings, other := 0, 0
	for _, req := range f.git.Requests() {
		switch {
		case req.Method == http.MethodGet && req.Service == "git-upload-pack" && req.Status == http.StatusOK:
			listings++
		default:
			other++
		}
	}
	rounds := int(elapsed / interval)
	t.Logf("%d ls-remote (and %d other requests) in %s: %d intervals of %s for 50 apps", listings, other, elapsed.Round(time.Millisecond), rounds, interval)
	if listings > rounds+1 {
		t.Errorf("%d ls-remote in %d intervals; want at most one per interval for the 50 apps", listings, rounds)
	}
	if listings < rounds/3 {
		t.Errorf("%d ls-remote in %d intervals: the repository is not polled", listings, rounds)
	}
	if other > 0 {
		t.Errorf("%d requests other than ls-remote (fetches) while nothing changed", other)
	}
	for _, a := range apps {
		if got := metric(t, s, "tagrelay_reconciler_polls_total", a.Name, "unchanged"); got < before[a.Name]+float64(rounds/3) {
			t.Errorf("app %s polled %v times in %d intervals", a.Name, got-before[a.Name], rounds)
		}
	}
}

// TestConfigReload: the apps file edited while the server runs: the new app is deployed, the
// removed one dropped (its objects stay), without a restart. An edit that does not parse keeps
// the apps in use. A dir generator's files come and go the same way; a hostile one (too big,
// an alias bomb, not YAML) is left out with its error while the others keep running.
func TestConfigReload(t *testing.T) {
	f := newFixture(t)
	f.commit(map[string]string{"one/cm.yaml": configMapYAML("one"), "two/cm.yaml": configMapYAML("two"),
		"three/cm.yaml": configMapYAML("three"), "four/cm.yaml": configMapYAML("four")})
	dir := t.TempDir()
	gens := filepath.Join(dir, "apps.d")
	if err := os.Mkdir(gens, 0o700); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(dir, "git-token")
	write := func(p, s string) {
		t.Helper()
		tmp := p + ".tmp"
		if err := os.WriteFile(tmp, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, p); err != nil { // as editors and kubelet do
			t.Fatal(err)
		}
	}
	write(tokenFile, gitToken)
	appYAML := func(name string) string {
		return fmt.Sprintf("- {name: %s, repo: %s, path: %s, namespace: %s, sharedNamespace: true, auth: {username: %s, tokenFile: %s}}\n",
			name, f.git.RepoURL(f.repo), name, f.ns, gitUser, tokenFile)
	}
	file := filepath.Join(dir, "apps.yaml")
	write(file, "generators:\n- dir: "+gens+"\napps:\n"+appYAML("one"))
	write(filepath.Join(gens, "team-a.yaml"), "apps:\n"+appYAML("three"))
	source := &reconcile.ConfigSource{File: file, Namespace: f.sys}
	cfg, warnings, err := source.Load()
	if err != nil || warnings != nil {
		t.Fatalf("Load() = %v, %v", warnings, err)
	}
	s, hs := f.serveConfig(cfg, reconcile.ServerOptions{Interval: 200 * time.Millisecond, Config: source, FirstRoundSpread: time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	deployed := func(name string) bool {
		st, err := (&api.Client{URL: hs.URL, Token: apiToken}).Status(context.Background(), name)
		return err == nil && st.LastSync != nil && st.LastSync.Status == api.StatusSucceeded
	}
	known := func(name string) bool {
		code, _ := call(t, http.MethodGet, hs.URL+"/api/v1/apps/"+name, apiToken, nil)
		return code == http.StatusOK
	}
	waitFor(t, "apps one and three deployed", func() bool { return deployed("one") && deployed("three") })

	write(file, "generators:\n- dir: "+gens+"\napps:\n"+appYAML("two"))
	waitFor(t, "app two deployed, one dropped", func() bool { return deployed("two") && !known("one") })
	if _, err := f.cs.CoreV1().ConfigMaps(f.ns).Get(context.Background(), "one", metav1.GetOptions{}); err != nil {
		t.Errorf("the removed app's ConfigMap: %v; want it kept (no prune unless asked)", err)
	}

	write(file, "apps: [{name: broken")
	waitFor(t, "the refused reload", func() bool { return metric(t, s, "tagrelay_reconciler_config_reloads_total", "error", "file") >= 1 })
	if !known("two") || !known("three") {
		t.Errorf("a config that does not parse dropped apps: two %v, three %v", known("two"), known("three"))
	}
	write(file, "generators:\n- dir: "+gens+"\napps:\n"+appYAML("two"))

	// Hostile app files next to a good new one: each is left out, the rest runs.
	write(filepath.Join(gens, "big.yaml"), "apps:\n"+strings.Repeat("# padding\n", 120_000))
	write(filepath.Join(gens, "bomb.yaml"), "apps: []\nx:\n"+yamltest.Laughs("  ", 5))
	write(filepath.Join(gens, "junk.yaml"), "\x00\x01 not yaml: [")
	write(filepath.Join(gens, "team-b.yaml"), "apps:\n"+appYAML("four"))
	waitFor(t, "app four deployed from its new file", func() bool { return deployed("four") })
	if !known("two") || !known("three") {
		t.Errorf("bad app files dropped apps: two %v, three %v", known("two"), known("three"))
	}
	if metric(t, s, "tagrelay_reconciler_config_reloads_total", "error", "dir") < 1 {
		t.Error("the bad app files were not counted as reload errors")
	}
	// The same at start: a bad file is a warning naming it, the others load.
	cfg, warnings, err = source.Load()
	if err != nil || warnings == nil || len(cfg.Apps) != 3 {
		t.Fatalf("Load() with bad app files = %d apps, warnings %v, %v; want 3 apps and the files named", len(cfg.Apps), warnings, err)
	}
	for _, want := range []string{"big.yaml: larger than 1048576 bytes", "bomb.yaml: ", "aliases expand", "junk.yaml: "} {
		if !strings.Contains(warnings.Error(), want) {
			t.Errorf("warnings %q: want %q", warnings, want)
		}
	}

	// A removed file drops its app; its objects stay.
	if err := os.Remove(filepath.Join(gens, "team-a.yaml")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "app three dropped", func() bool { return !known("three") })
	if _, err := f.cs.CoreV1().ConfigMaps(f.ns).Get(context.Background(), "three", metav1.GetOptions{}); apierrors.IsNotFound(err) {
		t.Error("the dropped generated app's ConfigMap was pruned; want it kept")
	}
}

// testLog writes a server's log to the test's.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// TestGitGenerator: every directory of a repository matching the generator's patterns becomes
// an app (the template's placeholders filled in), a directory added by a commit becomes an app
// at the next read, a removed one is dropped with its objects kept, and a commit that makes an
// invalid app (a directory whose name is no DNS label) keeps the apps the generator gave last.
func TestGitGenerator(t *testing.T) {
	f := newFixture(t)
	f.commit(map[string]string{
		"teams/red/apps/web/cm.yaml":   configMapYAML("red-web"),
		"teams/red/apps/api/cm.yaml":   configMapYAML("red-api"),
		"teams/blue/apps/web/cm.yaml":  configMapYAML("blue-web"),
		"teams/sandbox/apps/x/cm.yaml": configMapYAML("sandbox-x"),
		"other/cm.yaml":                configMapYAML("other"),
	})
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "git-token")
	if err := os.WriteFile(tokenFile, []byte(gitToken), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "apps.yaml")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(`generators:
- git:
    repo: %s
    directories: ["teams/*/apps/*", "!teams/sandbox/apps/*"]
    auth: {username: %s, tokenFile: %s}
  template:
    name: "{{path[1]}}-{{path.basename}}"
    namespace: %s
    sharedNamespace: true
`, f.git.RepoURL(f.repo), gitUser, tokenFile, f.ns)), 0o600); err != nil {
		t.Fatal(err)
	}
	source := &reconcile.ConfigSource{File: file, Namespace: f.sys}
	cfg, warnings, err := source.Load()
	if err != nil || warnings != nil || len(cfg.Apps) != 0 {
		t.Fatalf("Load() = %+v, %v, %v; want no apps yet (the server reads git generators)", cfg, warnings, err)
	}
	s, hs := f.serveConfig(cfg, reconcile.ServerOptions{Interval: 200 * time.Millisecond, Config: source, FirstRoundSpread: time.Millisecond})
	names := func() []string {
		list, err := (&api.Client{URL: hs.URL, Token: apiToken}).List(context.Background(), api.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, a := range list.Items {
			if a.LastSync != nil && a.LastSync.Status == api.StatusSucceeded {
				out = append(out, a.Name+"@"+a.Path)
			}
		}
		return out
	}
	want := "blue-web@teams/blue/apps/web red-api@teams/red/apps/api red-web@teams/red/apps/web"
	waitFor(t, "the three generated apps deployed", func() bool { return strings.Join(names(), " ") == want })

	f.commit(map[string]string{"teams/blue/apps/db/cm.yaml": configMapYAML("blue-db"), "-teams/red/apps/api/cm.yaml": ""})
	want = "blue-db@teams/blue/apps/db blue-web@teams/blue/apps/web red-web@teams/red/apps/web"
	waitFor(t, "blue-db added and red-api dropped", func() bool { return strings.Join(names(), " ") == want })
	if _, err := f.cs.CoreV1().ConfigMaps(f.ns).Get(context.Background(), "red-api", metav1.GetOptions{}); err != nil {
		t.Errorf("the dropped app's ConfigMap: %v; want it kept", err)
	}

	f.commit(map[string]string{"teams/blue/apps/Bad_Name/cm.yaml": configMapYAML("bad")})
	waitFor(t, "the invalid generation refused", func() bool { return metric(t, s, "tagrelay_reconciler_config_reloads_total", "error", "git") >= 1 })
	if got := strings.Join(names(), " "); got != want {
		t.Errorf("after an invalid directory, apps = %s; want those of the last good read: %s", got, want)
	}
}
