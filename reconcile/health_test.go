package reconcile

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"
)

func TestHealth(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, yaml string
		want       status.Status
	}{
		{"job running", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nstatus: {startTime: '2026-01-01T00:00:00Z', active: 1}\n", status.InProgressStatus},
		{"job complete", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nstatus: {succeeded: 1, conditions: [{type: Complete, status: 'True'}]}\n", status.CurrentStatus},
		{"job failed", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nstatus: {conditions: [{type: Failed, status: 'True', reason: BackoffLimitExceeded}]}\n", status.FailedStatus},
		{"pvc pending", "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: p}\nstatus: {phase: Pending}\n", status.InProgressStatus},
		{"pvc bound", "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: p}\nstatus: {phase: Bound}\n", status.CurrentStatus},
		{"deployment past its deadline", `apiVersion: apps/v1
kind: Deployment
metadata: {name: d, generation: 2}
spec: {replicas: 1}
status:
  observedGeneration: 2
  replicas: 2
  updatedReplicas: 1
  conditions: [{type: Progressing, status: 'False', reason: ProgressDeadlineExceeded}]
`, status.FailedStatus},
		{"deployment not observed yet", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, generation: 3}\nspec: {replicas: 1}\nstatus: {observedGeneration: 2, replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1}\n", status.InProgressStatus},
		{"missing", "", status.InProgressStatus},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var u *unstructured.Unstructured
			if tc.yaml != "" {
				j, err := yaml.YAMLToJSON([]byte(tc.yaml))
				if err != nil {
					t.Fatal(err)
				}
				u = &unstructured.Unstructured{}
				if err := u.UnmarshalJSON(j); err != nil {
					t.Fatal(err)
				}
			}
			if got := health(u); got.Status != tc.want {
				t.Errorf("health(%s) = %s (%s), want %s", tc.name, got.Status, got.Message, tc.want)
			}
		})
	}
}
