package kubetest

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func TestMain(m *testing.M) { Main(m) }

func TestUniqueName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, prefix string }{
		{"TestSync/plain_app", "testsync-plain-app-"},
		{"Test__X", "test-x-"},
	} {
		got := uniqueName(tc.in)
		if len(got) != len(tc.prefix)+6 || got[:len(tc.prefix)] != tc.prefix {
			t.Errorf("uniqueName(%q) = %q, want %q + 6 hex digits", tc.in, got, tc.prefix)
		}
	}
}

// TestRollout shows what the cluster is for: a Deployment rolls out to Ready pods, and a
// ":broken" image never becomes Ready.
func TestRollout(t *testing.T) {
	c := Shared(t)
	ns := Namespace(t, c)
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig) // the kubeconfig file works too
	if err != nil {
		t.Fatal(err)
	}
	cs := kubernetes.NewForConfigOrDie(cfg)
	ctx := context.Background()
	one := int32(1)
	dep := func(image string) *appsv1.Deployment {
		return &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: appsv1.DeploymentSpec{Replicas: &one,
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: image}}}}},
		}
	}
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, dep("example.com/web:v1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		return err == nil && d.Status.ObservedGeneration == d.Generation && d.Status.ReadyReplicas == 1 && d.Status.UpdatedReplicas == 1, nil
	})
	if err != nil {
		t.Fatalf("Deployment web never became Ready: %v", err)
	}
	broken := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "broken"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "example.com/web:broken"}}}}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, broken, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var reason string
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, "broken", metav1.GetOptions{})
		if err != nil || len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].State.Waiting == nil {
			return false, nil
		}
		reason = p.Status.ContainerStatuses[0].State.Waiting.Reason
		return true, nil
	})
	if err != nil || reason != "CrashLoopBackOff" {
		t.Fatalf("pod with a :broken image: waiting reason %q (%v), want CrashLoopBackOff", reason, err)
	}
}

// TestNodeLease: kwok renews the node's lease, else the node lifecycle controller declares the
// node lost after ~50 s and marks every pod NotReady, and any test running past that fails.
func TestNodeLease(t *testing.T) {
	c := Shared(t)
	cs := kubernetes.NewForConfigOrDie(c.RESTConfig())
	var first *metav1.MicroTime
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		l, err := cs.CoordinationV1().Leases("kube-node-lease").Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil || l.Spec.RenewTime == nil {
			return false, nil
		}
		if first == nil {
			first = l.Spec.RenewTime
			return false, nil
		}
		return !l.Spec.RenewTime.Equal(first), nil
	})
	if err != nil {
		t.Fatalf("the lease of node %s is not renewed: %v", NodeName, err)
	}
}
