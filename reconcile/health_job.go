package reconcile

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// jobHealth waits for completion: kstatus calls a Job that has started Current, but a deploy
// that runs a migration Job is done when the Job is, and failed when it failed.
func jobHealth(u *unstructured.Unstructured) *status.Result {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["status"] != "True" {
			continue
		}
		msg, _ := m["message"].(string)
		switch m["type"] {
		case "Complete":
			return &status.Result{Status: status.CurrentStatus, Message: "Job completed"}
		case "Failed":
			return &status.Result{Status: status.FailedStatus, Message: fmt.Sprintf("Job failed: %s", msg)}
		}
	}
	succeeded, _, _ := unstructured.NestedInt64(u.Object, "status", "succeeded")
	active, _, _ := unstructured.NestedInt64(u.Object, "status", "active")
	return &status.Result{Status: status.InProgressStatus,
		Message: fmt.Sprintf("Job running: %d succeeded, %d active", succeeded, active)}
}
