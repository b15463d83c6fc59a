package reconcile

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

// wave is the objects and the Sync hooks of one sync wave (argocd.argoproj.io/sync-wave,
// default 0). A sync applies its waves in order, each healthy before the next; without the
// annotation there is one wave, applied as a whole.
type wave struct {
	n     int
	rs    []*resource
	hooks []*hook
}

// planWaves groups the app's objects and Sync hooks by wave, in order.
func planWaves(rs []*resource, hp *hookPlan) ([]wave, error) {
	byWave := map[int]*wave{}
	get := func(n int) *wave {
		if byWave[n] == nil {
			byWave[n] = &wave{n: n}
		}
		return byWave[n]
	}
	var bad []string
	for _, res := range rs {
		n, err := waveOf(res.obj, 0)
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s (%s): %v", res, res.source, err))
			continue
		}
		w := get(n)
		w.rs = append(w.rs, res)
	}
	if len(bad) > 0 {
		return nil, errdefs.WithHint(errdefs.Invalid(fmt.Errorf("invalid sync waves: %s", shortList(bad))),
			"write the wave as an integer, e.g. argocd.argoproj.io/sync-wave: \"-1\"; nothing was applied")
	}
	for _, h := range hp.inPhase(phaseSync, nil) {
		w := get(h.wave)
		w.hooks = append(w.hooks, h)
	}
	if len(byWave) == 0 {
		return []wave{{}}, nil
	}
	out := make([]wave, 0, len(byWave))
	for _, w := range byWave {
		out = append(out, *w)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].n < out[j].n })
	return out, nil
}

// applyWaves applies the waves in order: each wave's Roles first (a RoleBinding to a Role of this
// sync is checked against it, bindingsToNewRoles), then its other objects, then its Sync hooks;
// a wave followed by another is waited for until healthy. The last wave's health is the sync's
// wait.
func (r *Reconciler) applyWaves(ctx context.Context, waves []wave, timeout time.Duration) ([]api.ObjectChange, error) {
	var out []api.ObjectChange
	for i, w := range waves {
		if err := stopped(ctx); err != nil {
			return out, err
		}
		roles, others := splitRoles(w.rs)
		if err := r.apply(ctx, roles); err != nil {
			return out, err
		}
		if err := stopped(ctx); err != nil {
			return out, err
		}
		if err := r.apply(ctx, others); err != nil {
			return out, err
		}
		ran, err := r.runHooks(ctx, w.hooks, timeout)
		out = append(out, ran...)
		if err != nil {
			return out, err
		}
		if i < len(waves)-1 {
			if err := r.wait(ctx, w.rs, timeout); err != nil {
				return out, fmt.Errorf("sync wave %d: %w", w.n, err)
			}
		}
	}
	return out, nil
}
