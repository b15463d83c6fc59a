// Package peertest is the plumbing shared by the helpers that run real GitOps peers out of cluster
// for tests and benchmarks (internal/fluxtest, internal/argocdtest): finding the binaries that
// hack/peers.sh builds from the Go module proxy, supervising the peer's processes (logs in a
// temporary directory, killed with the test binary, RSS from /proc), free 127.0.0.1 ports, and
// server-side applying the peer's CRDs and config to a kubetest cluster.
package peertest
