package reconcile

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

// The no-op guard's sentinels. Both are errdefs.ErrNoop (exit 3, HTTP 409): nothing was applied.
var (
	// ErrNoImageChange: a triggered sync whose rendered state changes no container image.
	ErrNoImageChange = errors.New("no-op refused: the deploy changes no container image")
	// ErrExpectedImage: the rendered state does not deploy the image the trigger expects, or
	// already runs it.
	ErrExpectedImage = errors.New("no-op refused: expected image")
)

// podSpecPath is where each workload kind keeps its pod spec.
var podSpecPath = map[string][]string{
	"Pod":         {"spec"},
	"Deployment":  {"spec", "template", "spec"},
	"StatefulSet": {"spec", "template", "spec"},
	"DaemonSet":   {"spec", "template", "spec"},
	"ReplicaSet":  {"spec", "template", "spec"},
	"Job":         {"spec", "template", "spec"},
	"CronJob":     {"spec", "jobTemplate", "spec", "template", "spec"},
}

// containerImages returns container name → image of a workload (init containers prefixed
// "init:"), nil for other kinds.
func containerImages(u *unstructured.Unstructured) map[string]string {
	if u == nil {
		return nil
	}
	p, ok := podSpecPath[u.GetKind()]
	if !ok {
		return nil
	}
	out := map[string]string{}
	for _, field := range []string{"initContainers", "containers"} {
		list, _, _ := unstructured.NestedSlice(u.Object, append(append([]string{}, p...), field)...)
		for _, c := range list {
			m, _ := c.(map[string]any)
			n, _ := m["name"].(string)
			img, _ := m["image"].(string)
			if field == "initContainers" {
				n = "init:" + n
			}
			out[n] = img
		}
	}
	return out
}

// imageChanges compares the images of every rendered workload with the live ones.
func imageChanges(rs []*resource) []api.ImageChange {
	var out []api.ImageChange
	for _, res := range rs {
		after := containerImages(res.obj)
		if after == nil {
			continue
		}
		before := containerImages(res.live)
		names := make([]string, 0, len(after))
		for n := range after {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			out = append(out, api.ImageChange{Object: res.String(), Container: n, Before: before[n], After: after[n]})
		}
	}
	return out
}

// noopGuard is the deploy-time half of tagrelay's promise: a requested deploy that changes no
// image is refused. expect (NAME:TAG), when set, must be deployed by the render and must be
// new; otherwise any changed image passes. restart and allowNoop let an unchanged deploy through.
func noopGuard(images []api.ImageChange, expect string, allowNoop, restart bool) error {
	if expect != "" {
		running, err := checkExpected(images, expect)
		if err != nil && !allowNoop && !(running && restart) {
			return err
		}
		return nil
	}
	if api.AnyChanged(images) || allowNoop || restart {
		return nil
	}
	var unchanged []string
	for _, c := range images {
		unchanged = append(unchanged, fmt.Sprintf("%s %s=%s", c.Object, c.Container, c.After))
	}
	what := "no workload"
	if len(unchanged) > 0 {
		what = "unchanged: " + strings.Join(unchanged, ", ")
	}
	return errdefs.WithHint(errdefs.Noop(fmt.Errorf("%w (%s)", ErrNoImageChange, what)),
		"bump an image tag in the repository, or re-run with --restart to roll the workloads, or --allow-noop to apply anyway; nothing was applied")
}

// checkExpected returns nil when the render deploys expect as a change; running reports that it
// deploys it but it runs already (which a restart makes a real deploy).
func checkExpected(images []api.ImageChange, expect string) (running bool, err error) {
	want, err := name.NewTag(expect, name.StrictValidation)
	if err != nil {
		return false, errdefs.WithHint(errdefs.Invalid(fmt.Errorf("expected image %q: %w", expect, err)), "use NAME:TAG")
	}
	var seen []string
	for _, c := range images {
		repo, tag, ok := splitRef(c.After)
		if !ok || repo != want.Context().Name() {
			continue
		}
		if tag != want.TagStr() {
			seen = append(seen, c.After)
			continue
		}
		if c.Before == c.After {
			return true, errdefs.WithHint(errdefs.Noop(fmt.Errorf("%w %s is already running in %s (container %s)", ErrExpectedImage, expect, c.Object, c.Container)),
				"nothing would change; re-run with --restart to roll the workloads, or --allow-noop to apply anyway; nothing was applied")
		}
		return false, nil
	}
	if len(seen) > 0 {
		return false, notDeployed(expect, seen) // diagnoseNotDeployed reads the revision for its hint
	}
	return false, errdefs.WithHint(errdefs.Noop(fmt.Errorf("%w %s is not deployed: no workload of the app uses %s", ErrExpectedImage, expect, want.Context().Name())),
		"check the image name and the app; nothing was applied")
}

// splitRef returns the canonical repository and tag of an image reference.
func splitRef(image string) (repo, tag string, ok bool) {
	ref, err := name.ParseReference(image)
	if err != nil {
		return "", "", false
	}
	if t, isTag := ref.(name.Tag); isTag {
		return t.Context().Name(), t.TagStr(), true
	}
	return ref.Context().Name(), ref.Identifier(), true
}

// pollDeployed reports whether the change a trigger asks for was just deployed by a poll (or a
// webhook) instead: the newest history entry is a successful poll of this very revision that
// changed the expected image (any image, without an expectation). The pipeline's deploy job then
// succeeds once — it waits for the health of what the poll rolled out — rather than being
// refused as a no-op for a deploy that did happen; the next trigger finds its own entry on top
// and is refused as usual. A sync that a new leader resumed after the replica running it died
// (ResumedFrom) counts the same way: the pipeline whose trigger died with that replica retries,
// and must learn that its deploy happened instead of being refused as a no-op.
func pollDeployed(history []Result, revision, expect string) bool {
	if len(history) == 0 {
		return false
	}
	last := history[0]
	if (last.Trigger != TriggerPoll && last.ResumedFrom == "") || last.Status != api.StatusSucceeded || last.Revision != revision || revision == "" {
		return false
	}
	if expect == "" {
		return api.AnyChanged(last.Images)
	}
	wantRepo, wantTag, ok := splitRef(expect)
	if !ok {
		return false
	}
	for _, c := range last.Images {
		if repo, tag, ok := splitRef(c.After); ok && c.Changed() && repo == wantRepo && tag == wantTag {
			return true
		}
	}
	return false
}
