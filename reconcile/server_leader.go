package reconcile

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// LeaderElection runs fn while this replica holds the Lease name in the reconciler's
// namespace (client-go leader election), so replicas of a Deployment do not sync the same apps.
// The server is marked leader while fn runs. It returns when ctx ends or leadership is lost
// (the process should then exit and restart as a follower).
func (s *Server) LeaderElection(ctx context.Context, name, identity string, fn func(ctx context.Context)) error {
	if err := s.r.ensureNamespace(ctx); err != nil {
		return err
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Name: name, Namespace: s.r.opts.Namespace},
		Client:     s.r.cs.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: identity},
	}
	lost := make(chan struct{})
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: lock, ReleaseOnCancel: true,
		LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				s.SetLeader(true)
				s.log.Info("leading", "lease", name, "identity", identity)
				fn(ctx)
			},
			OnStoppedLeading: func() {
				s.SetLeader(false)
				close(lost)
			},
		},
	})
	if err != nil {
		return fmt.Errorf("configuring leader election: %w", err)
	}
	le.Run(ctx)
	select {
	case <-lost:
		if ctx.Err() == nil {
			return fmt.Errorf("lost the leader lease %s/%s", s.r.opts.Namespace, name)
		}
	default:
	}
	return ctx.Err()
}
