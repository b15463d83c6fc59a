package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// LeaderElection configures the Leases through which replicas share the work: each shard of
// the apps is held by one replica through its own Lease (client-go leader election), and each
// replica announces itself with a membership Lease so the others know how many share the
// shards (shard_lease.go). Durations default to client-go's usual 15s, 10s, 2s: a replica that
// dies is replaced within LeaseDuration + RetryPeriod.
type LeaderElection struct {
	// LeaseName names the Leases in the reconciler's namespace: the shard's with one shard,
	// LeaseName-shard-N and LeaseName-member-ID with more. Default: tagrelay-reconciler.
	LeaseName string
	// LeaseDuration is how long the others wait after the last renewal before taking over.
	LeaseDuration time.Duration
	// RenewDeadline is how long a holder keeps retrying a renewal before it gives up the
	// shard (and cancels its syncs).
	RenewDeadline time.Duration
	// RetryPeriod is the pace of renewals, of the others' tries and of rebalancing.
	RetryPeriod time.Duration
	// Shards is the number of shards the apps are hashed onto (by repository). A replica holds
	// at most ceil(Shards/replicas) of them while the others are alive. Default: 1 (one replica
	// works, the others stand by).
	Shards int
}

// MaxShards bounds LeaderElection.Shards.
const MaxShards = 256

func (le *LeaderElection) fill() error {
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
	if le.Shards == 0 {
		le.Shards = 1
	}
	if le.Shards < 1 || le.Shards > MaxShards {
		return errdefs.WithHint(errdefs.Invalid(fmt.Errorf("%d shards", le.Shards)), fmt.Sprintf("pass --shards 1 to %d", MaxShards))
	}
	return nil
}

// The annotations by which the holder of a Lease publishes its URL, and the label that marks
// the Leases of one election. The annotations are written in the request that makes a replica
// the holder, and read only when they name the current holder.
const (
	holderAnnotation    = "tagrelay.dev/holder"
	holderURLAnnotation = "tagrelay.dev/holder-url"
	leaseOfLabel        = "tagrelay.dev/lease-of"
)

// errAtTarget: this replica holds its share of the shards; it leaves the free one to another.
var errAtTarget = errors.New("this replica holds its share of the shards")

// lock is the Lease lock of a shard, whose client publishes this replica's URL.
func (e *election) lock(sh *shard) *resourcelock.LeaseLock {
	return &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Name: e.leaseName(sh.index), Namespace: e.s.r.opts.Namespace},
		Client:     advertisingLeases{LeasesGetter: e.s.r.cs.CoordinationV1(), e: e, sh: sh},
		LockConfig: resourcelock.ResourceLockConfig{Identity: e.s.Identity()},
	}
}

// release gives up a shard's Lease if this replica still holds it, the way client-go does
// (holder cleared, duration 1s), so another replica takes over at its next try instead of
// after LeaseDuration. The update carries the Lease's resourceVersion: a Lease renewed by
// another replica meanwhile is left alone.
func (e *election) release(ctx context.Context, sh *shard) {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.RenewDeadline)
	defer cancel()
	leases := e.s.r.cs.CoordinationV1().Leases(e.s.r.opts.Namespace)
	lease, err := leases.Get(ctx, e.leaseName(sh.index), metav1.GetOptions{})
	if err != nil || lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != e.s.Identity() {
		return
	}
	now := metav1.NewMicroTime(time.Now())
	empty, one := "", int32(1)
	lease.Spec.HolderIdentity, lease.Spec.LeaseDurationSeconds = &empty, &one
	lease.Spec.AcquireTime, lease.Spec.RenewTime = &now, &now
	delete(lease.Annotations, holderAnnotation)
	delete(lease.Annotations, holderURLAnnotation)
	if _, err := leases.Update(ctx, lease, metav1.UpdateOptions{}); err != nil && !apierrors.IsConflict(err) {
		e.s.log.Warn("releasing the leader lease", "shard", sh.index, "error", err)
		return
	}
	e.s.log.Info("released the leader lease", "shard", sh.index)
}

// advertisingLeases is the Leases client of a shard's elector. Each Lease it writes with this
// replica as holder carries its URL, in the same request; an acquisition beyond this replica's
// share of the shards is refused (errAtTarget). Nothing else of the election is changed.
type advertisingLeases struct {
	coordinationv1client.LeasesGetter
	e  *election
	sh *shard
}

func (a advertisingLeases) Leases(ns string) coordinationv1client.LeaseInterface {
	return advertisingLease{LeaseInterface: a.LeasesGetter.Leases(ns), e: a.e, sh: a.sh}
}

type advertisingLease struct {
	coordinationv1client.LeaseInterface
	e  *election
	sh *shard
}

func (l advertisingLease) Create(ctx context.Context, lease *coordinationv1.Lease, opts metav1.CreateOptions) (*coordinationv1.Lease, error) {
	if err := l.e.advertise(l.sh, lease); err != nil {
		return nil, err
	}
	return l.LeaseInterface.Create(ctx, lease, opts)
}

func (l advertisingLease) Update(ctx context.Context, lease *coordinationv1.Lease, opts metav1.UpdateOptions) (*coordinationv1.Lease, error) {
	if err := l.e.advertise(l.sh, lease); err != nil {
		return nil, err
	}
	return l.LeaseInterface.Update(ctx, lease, opts)
}

// advertise sets the holder annotations and the election's label of a shard's Lease this
// replica is about to write, or refuses an acquisition beyond its share.
func (e *election) advertise(sh *shard, lease *coordinationv1.Lease) error {
	if lease.Labels == nil {
		lease.Labels = map[string]string{}
	}
	lease.Labels[leaseOfLabel] = e.cfg.LeaseName
	if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != e.s.Identity() {
		delete(lease.Annotations, holderAnnotation)
		delete(lease.Annotations, holderURLAnnotation)
		return nil
	}
	// The Lease read before this write names its holder: this replica renews, or acquires.
	if lease.Annotations[holderAnnotation] != e.s.Identity() && !e.mayAcquire() {
		return errAtTarget
	}
	if lease.Annotations == nil {
		lease.Annotations = map[string]string{}
	}
	lease.Annotations[holderAnnotation] = e.s.Identity()
	lease.Annotations[holderURLAnnotation] = e.s.opts.AdvertiseURL
	return nil
}
