package reconcile

import (
	"context"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// LeaderElection configures the Lease through which replicas elect the one that polls and
// syncs (client-go leader election). Durations default to client-go's usual 15s, 10s, 2s: a
// replica that dies is replaced within LeaseDuration + RetryPeriod.
type LeaderElection struct {
	// LeaseName is the Lease in the reconciler's namespace. Default: tagrelay-reconciler.
	LeaseName string
	// LeaseDuration is how long followers wait after the last renewal before taking over.
	LeaseDuration time.Duration
	// RenewDeadline is how long the leader keeps retrying a renewal before it gives up
	// leading (and cancels its syncs).
	RenewDeadline time.Duration
	// RetryPeriod is the pace of renewals and of the followers' tries.
	RetryPeriod time.Duration
}

func (le *LeaderElection) fill() {
	if le.LeaseName == "" {
		le.LeaseName = "tagrelay-reconciler"
	}
	if le.LeaseDuration <= 0 {
		le.LeaseDuration = 15 * time.Second
	}
	if le.RenewDeadline <= 0 {
		le.RenewDeadline = min(10*time.Second, le.LeaseDuration*2/3)
	}
	if le.RetryPeriod <= 0 {
		le.RetryPeriod = min(2*time.Second, le.RenewDeadline/4)
	}
}

// The annotations by which the holder of a Lease publishes its URL. They are written in the
// request that makes it the holder, and read only when they name the current holder.
const (
	holderAnnotation    = "tagrelay.dev/holder"
	holderURLAnnotation = "tagrelay.dev/holder-url"
)

// runElected follows and leads in turn until ctx ends, then drains and releases the Lease.
func (s *Server) runElected(ctx context.Context) error {
	if err := s.r.ensureNamespace(ctx); err != nil {
		return err
	}
	for {
		stop, err := s.electOnce(ctx)
		if stop || err != nil {
			return err
		}
		s.log.Info("following again")
	}
}

// electOnce runs one client-go elector: it acquires the Lease, leads (lead) and returns
// when the Lease is lost — after the syncs it cancelled returned — or, when ctx ends, drains
// first, stops renewing, and only then releases the Lease (stop is then true).
func (s *Server) electOnce(ctx context.Context) (stop bool, err error) {
	cfg := s.opts.LeaderElection
	electCtx, stopElect := context.WithCancel(context.WithoutCancel(ctx))
	defer stopElect()
	started := make(chan context.Context, 1)
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: s.lock(), Name: cfg.LeaseName,
		LeaseDuration: cfg.LeaseDuration, RenewDeadline: cfg.RenewDeadline, RetryPeriod: cfg.RetryPeriod,
		// Released by release, once the syncs drained: client-go would release it on cancel
		// before the leader's context (and so its syncs) ends.
		ReleaseOnCancel: false,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(lctx context.Context) { started <- lctx },
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		return true, fmt.Errorf("configuring leader election: %w", err)
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
				s.lead(lctx)
			}()
			started = nil
		case <-ran: // lost: client-go cancelled the leader's context
			if led != nil {
				<-led
			}
			return false, nil
		case <-ctx.Done():
			s.drain()
			stopElect()
			<-ran
			if led != nil {
				<-led
			}
			s.release(context.WithoutCancel(ctx))
			return true, nil
		}
	}
}

// lock is the Lease lock, whose client publishes this replica's URL (advertisingLeases).
func (s *Server) lock() *resourcelock.LeaseLock {
	return &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Name: s.opts.LeaderElection.LeaseName, Namespace: s.r.opts.Namespace},
		Client:     advertisingLeases{LeasesGetter: s.r.cs.CoordinationV1(), s: s},
		LockConfig: resourcelock.ResourceLockConfig{Identity: s.Identity()},
	}
}

// release gives up the Lease if this replica still holds it, the way client-go does (holder
// cleared, duration 1s), so a follower takes over at its next try instead of after
// LeaseDuration. The update carries the Lease's resourceVersion: a Lease renewed by another
// replica meanwhile is left alone.
func (s *Server) release(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.LeaderElection.RenewDeadline)
	defer cancel()
	leases := s.r.cs.CoordinationV1().Leases(s.r.opts.Namespace)
	lease, err := leases.Get(ctx, s.opts.LeaderElection.LeaseName, metav1.GetOptions{})
	if err != nil || lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != s.Identity() {
		return
	}
	now := metav1.NewMicroTime(time.Now())
	empty, one := "", int32(1)
	lease.Spec.HolderIdentity, lease.Spec.LeaseDurationSeconds = &empty, &one
	lease.Spec.AcquireTime, lease.Spec.RenewTime = &now, &now
	delete(lease.Annotations, holderAnnotation)
	delete(lease.Annotations, holderURLAnnotation)
	if _, err := leases.Update(ctx, lease, metav1.UpdateOptions{}); err != nil && !apierrors.IsConflict(err) {
		s.log.Warn("releasing the leader lease", "error", err)
		return
	}
	s.log.Info("released the leader lease")
}

// advertisingLeases is the Leases client of the elector. Each Lease it writes with this
// replica as holder carries its URL, in the same request; each Lease it reads tells the
// server who leads and where (observeLease). Nothing else of the election is changed.
type advertisingLeases struct {
	coordinationv1client.LeasesGetter
	s *Server
}

func (a advertisingLeases) Leases(ns string) coordinationv1client.LeaseInterface {
	return advertisingLease{LeaseInterface: a.LeasesGetter.Leases(ns), s: a.s}
}

type advertisingLease struct {
	coordinationv1client.LeaseInterface
	s *Server
}

func (l advertisingLease) Get(ctx context.Context, name string, opts metav1.GetOptions) (*coordinationv1.Lease, error) {
	lease, err := l.LeaseInterface.Get(ctx, name, opts)
	if err == nil {
		l.s.observeLease(lease)
	}
	return lease, err
}

func (l advertisingLease) Create(ctx context.Context, lease *coordinationv1.Lease, opts metav1.CreateOptions) (*coordinationv1.Lease, error) {
	l.s.advertise(lease)
	out, err := l.LeaseInterface.Create(ctx, lease, opts)
	if err == nil {
		l.s.observeLease(out)
	}
	return out, err
}

func (l advertisingLease) Update(ctx context.Context, lease *coordinationv1.Lease, opts metav1.UpdateOptions) (*coordinationv1.Lease, error) {
	l.s.advertise(lease)
	out, err := l.LeaseInterface.Update(ctx, lease, opts)
	if err == nil {
		l.s.observeLease(out)
	}
	return out, err
}

// advertise sets the holder annotations of a Lease this replica is about to write.
func (s *Server) advertise(lease *coordinationv1.Lease) {
	if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != s.Identity() {
		delete(lease.Annotations, holderAnnotation)
		delete(lease.Annotations, holderURLAnnotation)
		return
	}
	if lease.Annotations == nil {
		lease.Annotations = map[string]string{}
	}
	lease.Annotations[holderAnnotation] = s.Identity()
	lease.Annotations[holderURLAnnotation] = s.opts.AdvertiseURL
}

// observeLease records the leader a Lease names, with its URL when the annotations are its own.
func (s *Server) observeLease(lease *coordinationv1.Lease) {
	if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
		s.leader.Store(nil)
		return
	}
	ref := &leaderRef{identity: *lease.Spec.HolderIdentity}
	if lease.Annotations[holderAnnotation] == ref.identity {
		ref.url = lease.Annotations[holderURLAnnotation]
	}
	if old := s.leader.Load(); old == nil || *old != *ref {
		s.log.Info("leader", "identity", ref.identity, "url", ref.url)
	}
	s.leader.Store(ref)
}
