package console

import (
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxLimited bounds how many client addresses the login limiter remembers.
const maxLimited = 10000

// limiter is a token bucket (golang.org/x/time/rate) per client address. It remembers at most
// max addresses: when full, it forgets those whose bucket refilled (idle ones) and, if every one
// is still busy, all of them — a flood from that many addresses resets the limits instead of
// growing the server's memory.
type limiter struct {
	every rate.Limit
	burst int
	max   int

	mu      sync.Mutex
	buckets map[netip.Prefix]*rate.Limiter
}

func newLimiter(every rate.Limit, burst, max int) *limiter {
	return &limiter{every: every, burst: burst, max: max, buckets: map[netip.Prefix]*rate.Limiter{}}
}

// allow takes a token for addr; when there is none it says how long until one comes.
func (l *limiter) allow(addr netip.Prefix, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[addr]
	if b == nil {
		if len(l.buckets) >= l.max {
			for a, old := range l.buckets {
				if old.TokensAt(now) >= float64(l.burst) {
					delete(l.buckets, a)
				}
			}
			if len(l.buckets) >= l.max {
				clear(l.buckets)
			}
		}
		b = rate.NewLimiter(l.every, l.burst)
		l.buckets[addr] = b
	}
	r := b.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d, false
	}
	return 0, true
}

// clientAddr is the address a request came from, as the key of its login bucket: the IPv4
// address, or the /64 of an IPv6 one (what one client usually holds). The peer's address is
// used, not X-Forwarded-For, which any client can set: behind a proxy every client shares the
// proxy's bucket (a brute force then slows everyone's logins, and finds no token any sooner).
func clientAddr(r *http.Request) netip.Prefix {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Prefix{}
	}
	ip = ip.Unmap()
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p
}
