package reconcile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/leaderelection"
)

// Replicas share the shards through Kubernetes Leases:
//
//   - each shard has a Lease (LeaseName, or LeaseName-shard-N with several shards), held by one
//     replica through client-go leader election; the holder publishes its URL in it, so any
//     replica forwards an app's writes and webhooks to its shard's holder;
//   - with several shards, each replica also holds a membership Lease (LeaseName-member-ID),
//     renewed every RetryPeriod: the replicas whose membership is not expired are alive, and a
//     replica aims at ceil(shards/alive) shards. It runs an elector for every shard: under
//     its share it wins those that are free or expired; at its share its electors only watch
//     the others' (an acquisition is refused), so they time their expiry from the renewals they
//     saw; over it (a replica joined) it gives the surplus up — it drains their syncs while
//     still renewing, then releases their Leases, and the newcomer's electors take them. A
//     replica that dies stops renewing: LeaseDuration after its last renewal its membership and
//     its shards' Leases expire, the others' share grows and they take its shards.
//
// Which shards a replica gives up is decided by rendezvous hashing of its identity and the
// shard, so the choice is stable while nothing changes. Every replica watches the Leases of its
// namespace with one informer: routing and the member count read it, never the API server.

// election is the shards' leader election on this replica.
type election struct {
	s   *Server
	cfg *LeaderElection

	leases cache.Store // the Leases of the namespace

	mu       sync.Mutex
	electors map[int]*elector
	members  int
	target   int
	member   *coordinationv1.Lease // this replica's membership, as last written
}

// elector runs client-go leader election on one shard until cancelled.
type elector struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func newElection(s *Server) *election {
	return &election{s: s, cfg: s.opts.LeaderElection, electors: map[int]*elector{}, members: 1, target: s.opts.LeaderElection.Shards}
}

// leaseName is the Lease of shard i.
func (e *election) leaseName(i int) string {
	if e.cfg.Shards == 1 {
		return e.cfg.LeaseName
	}
	return fmt.Sprintf("%s-shard-%d", e.cfg.LeaseName, i)
}

// memberName is the membership Lease of a replica.
func (e *election) memberName(identity string) string {
	sum := sha256.Sum256([]byte(identity))
	return e.cfg.LeaseName + "-member-" + hex.EncodeToString(sum[:5])
}

// run holds shards until ctx ends, then drains, stops the electors, releases the Leases and
// the membership.
func (e *election) run(ctx context.Context) error {
	if err := e.s.r.ensureNamespace(ctx); err != nil {
		return err
	}
	watchCtx, stopWatch := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWatch()
	if err := e.watchLeases(watchCtx, ctx); err != nil {
		return nil // ctx ended first
	}
	tick := time.NewTicker(e.cfg.RetryPeriod)
	defer tick.Stop()
	for {
		e.rebalance(ctx)
		select {
		case <-ctx.Done():
			e.stop(context.WithoutCancel(ctx))
			return nil
		case <-tick.C:
		}
	}
}

// watchLeases starts the informer of the namespace's Leases and waits for its first list.
func (e *election) watchLeases(ctx, until context.Context) error {
	f := informers.NewSharedInformerFactoryWithOptions(e.s.r.cs, 0, informers.WithNamespace(e.s.r.opts.Namespace))
	inf := f.Coordination().V1().Leases().Informer()
	seen := map[int]string{}
	var mu sync.Mutex
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { e.observe(obj, seen, &mu) },
		UpdateFunc: func(_, obj any) { e.observe(obj, seen, &mu) },
	})
	e.leases = inf.GetStore()
	go inf.RunWithContext(ctx)
	for !inf.HasSynced() {
		select {
		case <-until.Done():
			return until.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// observe logs who holds a shard when that changes.
func (e *election) observe(obj any, seen map[int]string, mu *sync.Mutex) {
	lease, ok := obj.(*coordinationv1.Lease)
	if !ok {
		return
	}
	for i := range e.cfg.Shards {
		if lease.Name != e.leaseName(i) {
			continue
		}
		ref := leaseHolder(lease, time.Time{})
		id := ""
		if ref != nil {
			id = ref.identity
		}
		mu.Lock()
		changed := seen[i] != id
		seen[i] = id
		mu.Unlock()
		if changed && ref != nil {
			e.s.log.Info("leader", "shard", i, "identity", ref.identity, "url", ref.url)
		}
	}
}

// leaseHolder returns the holder a Lease names and its URL (when the annotations are its own);
// nil when none, or when it expired before now (zero now: expiry not checked).
func leaseHolder(lease *coordinationv1.Lease, now time.Time) *leaderRef {
	if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
		return nil
	}
	if !now.IsZero() && expired(lease, now) {
		return nil
	}
	ref := &leaderRef{identity: *lease.Spec.HolderIdentity}
	if lease.Annotations[holderAnnotation] == ref.identity {
		ref.url = lease.Annotations[holderURLAnnotation]
	}
	return ref
}

func expired(lease *coordinationv1.Lease, now time.Time) bool {
	if lease.Spec.RenewTime == nil || lease.Spec.LeaseDurationSeconds == nil {
		return true
	}
	return lease.Spec.RenewTime.Add(time.Duration(*lease.Spec.LeaseDurationSeconds) * time.Second).Before(now)
}

// leaderRef is a holder as a Lease names it.
type leaderRef struct{ identity, url string }

// owner returns the replica holding a shard as the Leases say, nil when none is known.
func (s *Server) owner(sh *shard) *leaderRef {
	if s.le == nil || s.le.leases == nil {
		return nil
	}
	obj, ok, _ := s.le.leases.GetByKey(s.r.opts.Namespace + "/" + s.le.leaseName(sh.index))
	if lease, isLease := obj.(*coordinationv1.Lease); ok && isLease {
		return leaseHolder(lease, time.Now())
	}
	return nil
}

// memberCount returns how many replicas share the shards, as last counted.
func (e *election) memberCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.members
}

// mayAcquire reports whether this replica may take one more shard.
func (e *election) mayAcquire() bool {
	e.mu.Lock()
	target := e.target
	e.mu.Unlock()
	return len(e.heldShards()) < target
}

// heldShards returns the shards this replica holds and does not give up.
func (e *election) heldShards() []*shard {
	var out []*shard
	for _, sh := range e.s.shards {
		if sh.held() {
			out = append(out, sh)
		}
	}
	return out
}

// rebalance renews the membership, counts the replicas, and starts or stops electors so that
// this replica heads for its share of the shards.
func (e *election) rebalance(ctx context.Context) {
	n := e.cfg.Shards
	if n == 1 {
		e.ensureElector(ctx, e.s.shards[0])
		return
	}
	e.renewMembership(ctx)
	members := e.aliveMembers()
	target := (n + members - 1) / members
	e.mu.Lock()
	e.members, e.target = members, target
	e.mu.Unlock()
	e.s.metrics.members.Set(float64(members))
	held := e.heldShards()
	giveUp := map[int]bool{}
	if extra := len(held) - target; extra > 0 {
		sort.Slice(held, func(i, j int) bool { return e.score(held[i]) < e.score(held[j]) })
		for _, sh := range held[:extra] {
			e.s.log.Info("giving up a shard", "shard", sh.index, "replicas", members, "share", target)
			e.stopElector(sh)
			giveUp[sh.index] = true
		}
	}
	// Every other shard keeps an elector, also at this replica's share: advertise refuses its
	// acquisitions then, but client-go times a Lease's expiry from the renewals its elector
	// observed, so an elector started only once the share grows (a replica died) would wait a
	// whole LeaseDuration more before taking the dead replica's shards.
	for _, sh := range e.s.shards {
		if !giveUp[sh.index] {
			e.ensureElector(ctx, sh)
		}
	}
	e.collectMembers(ctx)
}

// score ranks the shards for this replica (rendezvous hashing): it gives up its lowest first.
func (e *election) score(sh *shard) uint32 {
	h := fnv.New32a()
	fmt.Fprintf(h, "%s/%d", e.s.Identity(), sh.index)
	return h.Sum32()
}

// ensureElector starts the elector of a shard unless it runs.
func (e *election) ensureElector(ctx context.Context, sh *shard) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.electors[sh.index] != nil {
		return
	}
	ectx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	el := &elector{cancel: cancel, done: make(chan struct{})}
	e.electors[sh.index] = el
	go func() {
		defer close(el.done)
		for ectx.Err() == nil {
			e.electOnce(ectx, sh)
		}
		e.mu.Lock()
		if e.electors[sh.index] == el {
			delete(e.electors, sh.index)
		}
		e.mu.Unlock()
	}()
}

// stopElector stops a shard's elector; if it holds the shard, it drains, then releases it.
func (e *election) stopElector(sh *shard) {
	e.mu.Lock()
	el := e.electors[sh.index]
	e.mu.Unlock()
	if el != nil {
		el.cancel()
	}
}

// electOnce runs one client-go elector on a shard: it acquires the Lease, works on the shard
// (lead) and returns when the Lease is lost — after the syncs it cancelled returned — or, when
// ctx ends, drains the shard first (still renewing), stops renewing, and only then releases
// the Lease.
func (e *election) electOnce(ctx context.Context, sh *shard) {
	electCtx, stopElect := context.WithCancel(context.WithoutCancel(ctx))
	defer stopElect()
	started := make(chan context.Context, 1)
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: e.lock(sh), Name: e.leaseName(sh.index),
		LeaseDuration: e.cfg.LeaseDuration, RenewDeadline: e.cfg.RenewDeadline, RetryPeriod: e.cfg.RetryPeriod,
		// Released by release, once the syncs drained: client-go would release it on cancel
		// before the holder's context (and so its syncs) ends.
		ReleaseOnCancel: false,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(lctx context.Context) { started <- lctx },
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		e.s.log.Error("configuring leader election", "shard", sh.index, "error", err)
		<-ctx.Done()
		return
	}
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		le.Run(electCtx)
	}()
	var led chan struct{} // closed when lead returned; nil while not leading
	for {
		select {
		case lctx := <-started:
			led = make(chan struct{})
			go func() {
				defer close(led)
				e.s.lead(sh, lctx)
			}()
			started = nil
		case <-ran: // lost: client-go cancelled the holder's context
			if led != nil {
				<-led
				e.s.log.Info("following again", "shard", sh.index)
			}
			return
		case <-ctx.Done():
			if led != nil {
				e.s.drainShard(sh)
			}
			stopElect()
			<-ran
			if led != nil {
				<-led
				e.release(context.WithoutCancel(ctx), sh)
			}
			return
		}
	}
}

// stop drains every shard (in parallel), stops the electors, releases the Leases and deletes
// the membership.
func (e *election) stop(ctx context.Context) {
	e.s.drain()
	e.mu.Lock()
	els := make([]*elector, 0, len(e.electors))
	for _, el := range e.electors {
		els = append(els, el)
		el.cancel()
	}
	e.mu.Unlock()
	for _, el := range els {
		<-el.done
	}
	if e.cfg.Shards > 1 {
		dctx, cancel := context.WithTimeout(ctx, e.cfg.RenewDeadline)
		defer cancel()
		err := e.s.r.cs.CoordinationV1().Leases(e.s.r.opts.Namespace).Delete(dctx, e.memberName(e.s.Identity()), metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			e.s.log.Warn("deleting the membership lease", "error", err)
		}
	}
}

// renewMembership creates or renews this replica's membership Lease.
func (e *election) renewMembership(ctx context.Context) {
	leases := e.s.r.cs.CoordinationV1().Leases(e.s.r.opts.Namespace)
	now := metav1.NewMicroTime(time.Now())
	secs := int32(max(e.cfg.LeaseDuration/time.Second, 1))
	id := e.s.Identity()
	e.mu.Lock()
	m := e.member
	e.mu.Unlock()
	var err error
	if m == nil {
		m = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: e.memberName(id), Namespace: e.s.r.opts.Namespace,
			Labels: map[string]string{leaseOfLabel: e.cfg.LeaseName}, Annotations: map[string]string{holderURLAnnotation: e.s.opts.AdvertiseURL}},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: &id, LeaseDurationSeconds: &secs, AcquireTime: &now, RenewTime: &now}}
		m, err = leases.Create(ctx, m, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			m, err = leases.Get(ctx, e.memberName(id), metav1.GetOptions{})
		}
	} else {
		m = m.DeepCopy()
		m.Spec.RenewTime, m.Spec.HolderIdentity = &now, &id
		m, err = leases.Update(ctx, m, metav1.UpdateOptions{})
		if err != nil {
			m = nil // read again next time
		}
	}
	if err != nil {
		if ctx.Err() == nil {
			e.s.log.Warn("renewing the membership lease", "error", err)
		}
		m = nil
	}
	e.mu.Lock()
	e.member = m
	e.mu.Unlock()
}

// aliveMembers counts the membership Leases not expired, this replica's included.
func (e *election) aliveMembers() int {
	prefix := e.cfg.LeaseName + "-member-"
	self := e.memberName(e.s.Identity())
	n, now := 1, time.Now()
	for _, obj := range e.leases.List() {
		if l, ok := obj.(*coordinationv1.Lease); ok && strings.HasPrefix(l.Name, prefix) && l.Name != self && !expired(l, now) {
			n++
		}
	}
	return n
}

// collectMembers deletes the membership Leases of replicas gone for ten lease durations
// (a killed pod cannot delete its own).
func (e *election) collectMembers(ctx context.Context) {
	prefix := e.cfg.LeaseName + "-member-"
	gone := time.Now().Add(-10 * e.cfg.LeaseDuration)
	for _, obj := range e.leases.List() {
		l, ok := obj.(*coordinationv1.Lease)
		if !ok || !strings.HasPrefix(l.Name, prefix) || !expired(l, gone) {
			continue
		}
		err := e.s.r.cs.CoordinationV1().Leases(l.Namespace).Delete(ctx, l.Name,
			metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &l.ResourceVersion}})
		if err == nil {
			e.s.log.Info("deleted the membership lease of a replica gone", "lease", l.Name, "holder", *l.Spec.HolderIdentity)
		}
	}
}
