// Package kubetest runs a real, Docker-free Kubernetes control plane on 127.0.0.1 for tests and
// for `make demo`: etcd 3.6, kube-apiserver, kube-controller-manager, kube-scheduler and kwok (a
// simulated kubelet, so Deployments really roll out and pods become Ready), from the binaries that
// hack/testcluster.sh builds once from the Go module proxy and caches under ~/.cache/tagrelay.
//
// In a test package, one cluster is shared by the whole test binary and started on first use:
//
//	func TestMain(m *testing.M) { kubetest.Main(m) }
//
//	func TestDeploy(t *testing.T) {
//		c := kubetest.Shared(t)      // skips under -short
//		ns := kubetest.Namespace(t, c) // unique, deleted when the test ends
//		cfg := c.RESTConfig()
//		...
//	}
//
// Outside tests (the demo, a benchmark), Start returns a running cluster and Stop ends it:
//
//	c, err := kubetest.Start(ctx, kubetest.Options{})
//	defer c.Stop()
//	os.Setenv("KUBECONFIG", c.Kubeconfig)
//
// Pods whose image tag is ":broken" go Running but never Ready (CrashLoopBackOff, with a BackOff
// Warning event), so failed rollouts can be tested (see stages.yaml). A Job's pod completes at once,
// or after the duration of its pod-complete.stage.kwok.x-k8s.io/delay annotation ("3s"), so a Job
// that takes a while can be tested. Every container's log is
// the file Cluster.ContainerLog, served by kwok's kubelet endpoint: the pods/log API (tail,
// follow) works; Cluster.AppendLog adds lines.
package kubetest
