package gitops

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// This file is the judgement both reconcilers share: from what runs before and after a trigger
// (workloads and their pods, as Argo CD's resource tree or the Kubernetes API shows them), did the
// expected image roll out, fail, or was nothing rolled? Pure functions, no I/O.

// workload is a Deployment, StatefulSet or DaemonSet of the application.
type workload struct {
	Kind, Namespace, Name string
	// Ready: rolled out (Argo CD Healthy, kstatus Current).
	Ready bool
	// Failed: stuck for good (Argo CD Degraded, kstatus Failed: ProgressDeadlineExceeded).
	Failed  bool
	Message string
}

func (w workload) key() string { return w.Kind + " " + w.Namespace + "/" + w.Name }

// pod is one pod of a workload.
type pod struct {
	UID, Namespace, Name string
	// Workload is the key of the workload that owns it.
	Workload string
	Images   []string
	Ready    bool
	// Problem says why the pod fails for good (CrashLoopBackOff, ImagePullBackOff, …), "" when
	// it does not.
	Problem string
	Created time.Time
}

func (p pod) runs(img Image) bool {
	for _, i := range p.Images {
		if img.matches(i) {
			return true
		}
	}
	return false
}

func (p pod) runsRepo(img Image) bool {
	for _, i := range p.Images {
		if img.sameRepo(i) {
			return true
		}
	}
	return false
}

// snapshot is what runs at one instant.
type snapshot struct {
	Workloads []workload
	Pods      []pod
}

// images returns the sorted, distinct images of the pods.
func (s snapshot) images() []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range s.Pods {
		for _, i := range p.Images {
			if !seen[i] {
				seen[i] = true
				out = append(out, i)
			}
		}
	}
	sort.Strings(out)
	return out
}

func (s snapshot) uids() map[string]bool {
	m := make(map[string]bool, len(s.Pods))
	for _, p := range s.Pods {
		m[p.UID] = true
	}
	return m
}

// runningSince reports whether every expected image fully runs: at least one ready pod runs it
// and no pod of its repository runs anything else. since is when the oldest such pod started.
func (s snapshot) runningSince(expect []Image) (ok bool, since time.Time) {
	if len(expect) == 0 {
		return false, time.Time{}
	}
	for _, img := range expect {
		found := false
		for _, p := range s.Pods {
			if !p.runsRepo(img) {
				continue
			}
			if !p.runs(img) || !p.Ready {
				return false, time.Time{}
			}
			found = true
			if since.IsZero() || p.Created.Before(since) {
				since = p.Created
			}
		}
		if !found {
			return false, time.Time{}
		}
	}
	return true, since
}

// rolled reports whether a pod that was not running before runs one of the expected images, or,
// without expected images, whether any pod is new.
func rolled(before, after snapshot, expect []Image) bool {
	old := before.uids()
	for _, p := range after.Pods {
		if old[p.UID] {
			continue
		}
		if len(expect) == 0 {
			return true
		}
		for _, img := range expect {
			if p.runs(img) {
				return true
			}
		}
	}
	return false
}

// failures returns the pods and workloads that make the rollout fail: new pods that fail for
// good (or, with expected images, any pod of them that fails), and workloads stuck for good that
// run the expected images (or any, without).
func failures(before, after snapshot, expect []Image) []Problem {
	old := before.uids()
	concerned := map[string]bool{}
	var out []Problem
	for _, p := range after.Pods {
		mine := !old[p.UID]
		if len(expect) > 0 {
			mine = false
			for _, img := range expect {
				mine = mine || p.runs(img)
			}
		}
		if mine {
			concerned[p.Workload] = true
		}
		if mine && p.Problem != "" {
			out = append(out, Problem{Object: "Pod " + p.Namespace + "/" + p.Name, Status: "Degraded", Message: p.Problem})
		}
	}
	for _, w := range after.Workloads {
		if w.Failed && (len(expect) == 0 || concerned[w.key()]) {
			out = append(out, Problem{Object: w.key(), Status: "Degraded", Message: w.Message})
		}
	}
	return out
}

// pending returns what the rollout still waits for, "" when the expected images (or, without,
// all workloads) are rolled out: their workloads ready, and every pod of their repositories ready
// and running them.
func pending(s snapshot, expect []Image) string {
	for _, w := range s.Workloads {
		if w.Ready {
			continue
		}
		if len(expect) == 0 || s.workloadRuns(w.key(), expect) {
			return fmt.Sprintf("%s not rolled out (%s)", w.key(), orUnknown(w.Message))
		}
	}
	for _, img := range expect {
		n := 0
		for _, p := range s.Pods {
			if !p.runsRepo(img) {
				continue
			}
			switch {
			case !p.runs(img):
				return fmt.Sprintf("pod %s/%s still runs %s", p.Namespace, p.Name, strings.Join(p.Images, ", "))
			case !p.Ready:
				return fmt.Sprintf("pod %s/%s (%s) not ready", p.Namespace, p.Name, img)
			}
			n++
		}
		if n == 0 {
			return "no pod runs " + img.String()
		}
	}
	return ""
}

func (s snapshot) workloadRuns(key string, expect []Image) bool {
	for _, p := range s.Pods {
		if p.Workload != key {
			continue
		}
		for _, img := range expect {
			if p.runsRepo(img) {
				return true
			}
		}
	}
	return false
}

// notDeployed returns ErrImageNotDeployed when, in a settled state (every workload and every pod
// of the image's repository ready), no pod runs an expected image: its repository runs at another
// tag, or not at all. nil otherwise. A reconciler's view of pods may lag its view of workloads for
// a moment: callers act on it only once it held for settleTime.
func notDeployed(target, revision string, s snapshot, expect []Image) error {
	for _, w := range s.Workloads {
		if !w.Ready {
			return nil
		}
	}
	for _, img := range expect {
		var others []string
		found := false
		for _, p := range s.Pods {
			if !p.runsRepo(img) {
				continue
			}
			if !p.Ready {
				return nil // not settled
			}
			if p.runs(img) {
				found = true
				continue
			}
			others = append(others, p.Images...)
		}
		if found {
			continue // pods of another tag still running: a rollout in progress, see pending
		}
		if len(others) > 0 {
			return errdefs.WithHint(fmt.Errorf("%s: %w: %s runs %s, not %s", target, ErrImageNotDeployed, shortRev(revision),
				strings.Join(distinct(others), ", "), img), "the bump has not reached the revision the reconciler deploys (mirror lag, unmerged MR, another branch?)")
		}
		return errdefs.WithHint(fmt.Errorf("%s: %w: no workload at %s runs an image of %s", target, ErrImageNotDeployed, shortRev(revision), img.repo),
			"check the image name and the application")
	}
	return nil
}

// settleTime is how long notDeployed must hold before a trigger believes it.
const settleTime = 3 * time.Second

// settled returns a judge that passes on notDeployed's error only once it held for settleTime.
func settled() func(error) (waiting string, err error) {
	var since time.Time
	return func(err error) (string, error) {
		if err == nil {
			since = time.Time{}
			return "", nil
		}
		if since.IsZero() {
			since = time.Now()
		}
		if time.Since(since) >= settleTime {
			return "", err
		}
		return "settling: " + err.Error(), nil
	}
}

// nothingRolled is the no-op verdict: the expected images ran before and nothing rolled, or,
// without expected images, no pod is new and the images are those of before.
func nothingRolled(target, revision string, before, after snapshot, expect []Image) error {
	if rolled(before, after, expect) {
		return nil
	}
	if len(expect) > 0 {
		ok, since := before.runningSince(expect)
		if !ok {
			return nil
		}
		return errdefs.WithHint(fmt.Errorf("%s: %w: %s already ran before the trigger (since %s) and no pod changed at %s",
			target, ErrNothingRolled, joinImages(expect), since.UTC().Format(time.RFC3339), shortRev(revision)),
			"push a new image tag, or restart the workloads to roll the pods anyway")
	}
	if strings.Join(before.images(), ",") != strings.Join(after.images(), ",") {
		return nil
	}
	return errdefs.WithHint(fmt.Errorf("%s: %w: %s changed no container image (running: %s)",
		target, ErrNothingRolled, shortRev(revision), orUnknown(strings.Join(after.images(), ", "))),
		"bump an image tag, or restart the workloads to roll the pods anyway")
}

func joinImages(imgs []Image) string {
	s := make([]string, len(imgs))
	for i, img := range imgs {
		s[i] = img.String()
	}
	return strings.Join(s, ", ")
}

func distinct(ss []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

func orUnknown(s string) string {
	if s == "" {
		return "no details"
	}
	return s
}
