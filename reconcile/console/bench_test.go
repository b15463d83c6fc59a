package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/tagrelay/tagrelay/reconcile/api"
)

// benchRequest serves path as the admin through the whole handler (session check, backend
// call, view building, template, security headers) and reports the page's size.
// cold empties the row cache before each page, as if every app had changed since the last.
func benchRequest(b *testing.B, m *memBackend, path string, cold bool) {
	c, err := New(m, Options{SessionKey: testKey})
	if err != nil {
		b.Fatal(err)
	}
	payload, _ := json.Marshal(session{P: api.Principal{Name: "admin", Admin: true}, Exp: time.Now().Add(time.Hour).Unix(), Nonce: "n"})
	cookie := &http.Cookie{Name: sessionCookie, Value: c.sign(payload)}
	h := c.Handler()
	var size int
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		if cold {
			c.rows.mu.Lock()
			clear(c.rows.m)
			c.rows.mu.Unlock()
		}
		req := httptest.NewRequest("GET", path, nil)
		req.AddCookie(cookie)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("GET %s = %d: %s", path, w.Code, w.Body)
		}
		size = w.Body.Len()
	}
	// CPU time per page, next to the wall time of ns/op: on a shared machine the wall time
	// includes the time other processes had the CPU.
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
	b.ReportMetric(float64(size)/1024, "KiB/page")
}

// cpuTime is the CPU time (user and system) the process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkOverview1000 renders the overview of 1,000 apps (20 projects, two workloads each,
// every tag a commit link): cold, every row rendered (every app changed since the last page),
// and warm, no app changed (the rows come from the cache).
func BenchmarkOverview1000(b *testing.B) {
	m := testBackend()
	m.apps = fleet(1000)
	b.Run("cold", func(b *testing.B) { benchRequest(b, m, "/", true) })
	b.Run("warm", func(b *testing.B) { benchRequest(b, m, "/", false) })
}

// BenchmarkAppPage300 renders an app's page with a resource tree of 300 objects (laid out as an
// SVG on the server), one of them selected with its events.
func BenchmarkAppPage300(b *testing.B) {
	m := testBackend()
	m.apps = fleet(1)
	name := m.apps[0].Name
	m.trees[name] = bigTree(name, 300)
	for i := range 50 {
		m.events[name] = append(m.events[name], api.Event{Object: "Deployment/ns/web-000", Type: "Normal", Reason: "ScalingReplicaSet",
			Message: fmt.Sprintf("Scaled up replica set web-000-6d4cf56db6 from %d to %d", i, i+1), Last: time.Now()})
	}
	benchRequest(b, m, "/apps/"+name+"?node=Deployment%2Fns%2Fweb-000", false)
}
