package kubetest

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/kubectl/pkg/util/podutils"
)

// PodReady reports whether the pod's Ready condition is true.
func PodReady(p *corev1.Pod) bool { return podutils.IsPodReady(p) }

// Image returns the image of the first container of a pod spec, "" without containers.
func Image(spec corev1.PodSpec) string {
	if len(spec.Containers) == 0 {
		return ""
	}
	return spec.Containers[0].Image
}

// DeploymentYAML is a Deployment named name, labelled app=name, of replicas pods of one
// container running image: the workload the tests and the demo roll from tag to tag.
func DeploymentYAML(name, image string, replicas int) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
spec:
  replicas: %[3]d
  selector:
    matchLabels: {app: %[1]s}
  template:
    metadata:
      labels: {app: %[1]s}
    spec:
      containers:
        - name: %[1]s
          image: %[2]s
`, name, image, replicas)
}
