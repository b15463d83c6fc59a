#!/usr/bin/env bash
# testcluster.sh — build (once, cached) and run a real, Docker-free Kubernetes control plane on 127.0.0.1.
#
#   build   build etcd + kube-apiserver + kube-controller-manager + kube-scheduler + kubectl as ONE
#           multi-call binary from the Go module proxy, and kwok (a simulated kubelet). Cached under
#           $TAGRELAY_CACHE/testcluster/<versions>/bin; a warm cache makes this a no-op.
#   bindir  print the directory holding the binaries (builds first when missing).
#   up      start a cluster in $W (default $TAGRELAY_CACHE/testcluster/run); prints the kubeconfig path.
#   down    stop the processes recorded by "up".
#
# The Go test helper internal/kubetest calls "bindir" and starts the processes itself (one cluster per
# test binary). Versions are pinned here and nowhere else. Lessons from ../shared/testcluster: Debian's
# etcd is too old (build 3.6); without the version ldflags the apiserver reports v0.0.0-master, which
# kubectl/Helm cannot parse; kwok needs stage files.
set -euo pipefail

K8S=v1.34.4          # k8s.io/kubernetes
STG=v0.34.4          # matching staging modules (k8s.io/api, client-go, ... v0.<minor>.<patch>)
ETCD_VER=v3.6.4      # go.etcd.io/etcd/server/v3 (the version k8s $K8S pins)
KWOK_VER=v0.8.0      # sigs.k8s.io/kwok

CACHE=${TAGRELAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tagrelay}
ROOT=$CACHE/testcluster/k8s-$K8S-etcd-$ETCD_VER-kwok-$KWOK_VER
BIN=$ROOT/bin

log() { printf 'testcluster: %s\n' "$*" >&2; }

build() {
  if [ -x "$BIN/k8s-all" ] && [ -x "$BIN/kwok" ] && [ -s "$BIN/kwok-stages.yaml" ]; then return 0; fi
  command -v go >/dev/null || { log "go is required to build the test cluster"; exit 1; }
  local src=$ROOT/src tmp
  mkdir -p "$src/cmd/k8s-all" "$BIN"
  tmp=$(mktemp -d "$ROOT/bin.XXXX")
  # the RETURN trap is global: clear it once it has run, or bindir's own return trips on the unset tmp
  trap 'rm -rf "${tmp:-}"; trap - RETURN' RETURN
  cd "$src"
  [ -f go.mod ] || go mod init tagrelay.local/testcluster >/dev/null 2>&1
  log "resolving k8s.io/kubernetes@$K8S (staging modules at $STG)"
  local gomod
  gomod=$(go mod download -json "k8s.io/kubernetes@$K8S" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  go mod edit -require="k8s.io/kubernetes@$K8S"
  for m in $(awk '/=> \.\/staging\//{print $1}' "$gomod"); do go mod edit -replace="$m=$m@$STG"; done
  cat > cmd/k8s-all/main.go <<'GO'
// Command k8s-all is etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kubectl in one
// binary, dispatched on argv[0] (symlinks) or on the first argument.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	_ "time/tzdata"

	"github.com/spf13/cobra"
	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	kubectl "k8s.io/kubectl/pkg/cmd"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	kcm "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

var cmds = map[string]func() *cobra.Command{
	"kube-apiserver":          apiserver.NewAPIServerCommand,
	"kube-controller-manager": kcm.NewControllerManagerCommand,
	"kube-scheduler":          func() *cobra.Command { return scheduler.NewSchedulerCommand() },
	"kubectl":                 kubectl.NewDefaultKubectlCommand,
}

func main() {
	name, args := filepath.Base(os.Args[0]), os.Args[1:]
	if _, ok := cmds[name]; !ok && name != "etcd" && len(args) > 0 {
		name, args = args[0], args[1:]
	}
	if name == "etcd" {
		etcdmain.Main(append([]string{"etcd"}, args...))
		return
	}
	mk, ok := cmds[name]
	if !ok {
		fmt.Fprintln(os.Stderr, "usage: k8s-all {etcd|kube-apiserver|kube-controller-manager|kube-scheduler|kubectl} [flags]")
		os.Exit(2)
	}
	c := mk()
	c.SetArgs(args)
	os.Exit(cli.Run(c))
}
GO
  go get "go.etcd.io/etcd/server/v3@$ETCD_VER" >/dev/null 2>&1
  go mod tidy
  local minor=${K8S#v1.}; minor=${minor%%.*}
  local ldf="-s -w -X k8s.io/component-base/version.gitVersion=$K8S -X k8s.io/component-base/version.gitMajor=1"
  ldf+=" -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
  ldf+=" -X k8s.io/client-go/pkg/version.gitVersion=$K8S -X k8s.io/client-go/pkg/version.gitMajor=1"
  ldf+=" -X k8s.io/client-go/pkg/version.gitMinor=$minor"
  log "building k8s-all (cold: ~10 min on 2 cores)"
  go build -trimpath -ldflags "$ldf" -o "$tmp/k8s-all" ./cmd/k8s-all
  log "building kwok $KWOK_VER (cold: ~3 min)"
  GOBIN="$tmp" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VER"
  local kd
  kd=$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VER" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
           pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    cat "$kd/kustomize/stage/$f"; echo '---'
  done > "$tmp/kwok-stages.yaml"
  for n in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl; do ln -sf k8s-all "$tmp/$n"; done
  # publish atomically: a half-built cache must never look complete
  rm -rf "$BIN.old"; [ -d "$BIN" ] && mv "$BIN" "$BIN.old"; mv "$tmp" "$BIN"; rm -rf "$BIN.old"
  log "built into $BIN"
}

bindir() { build; echo "$BIN"; }

W=${W:-$CACHE/testcluster/run}
ETCD_PORT=${ETCD_PORT:-23790} API_PORT=${API_PORT:-16443}

up() {
  build
  local run=$W
  mkdir -p "$run/certs" "$run/logs"; : > "$run/pids"
  local etcd_dir; etcd_dir=$(mktemp -d /dev/shm/tagrelay-etcd.XXXX 2>/dev/null || mktemp -d "$run/etcd.XXXX")
  echo "$etcd_dir" > "$run/etcd-dir"
  [ -f "$run/sa.key" ] || openssl genrsa -out "$run/sa.key" 2048 2>/dev/null
  echo 'admintoken,admin,admin,system:masters' > "$run/tokens.csv"
  cat > "$run/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: "https://127.0.0.1:$API_PORT", insecure-skip-tls-verify: true}}]
users: [{name: admin, user: {token: admintoken}}]
contexts: [{name: local, context: {cluster: local, user: admin, namespace: default}}]
current-context: local
KC
  local kc="$run/kubeconfig" k="$BIN/kubectl"
  bg() { local n=$1; shift; "$@" > "$run/logs/$n.log" 2>&1 & echo "$n $!" >> "$run/pids"; }
  bg etcd "$BIN/etcd" --unsafe-no-fsync --name=kc --data-dir="$etcd_dir" \
    --listen-client-urls="http://127.0.0.1:$ETCD_PORT" --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls="http://127.0.0.1:$((ETCD_PORT+1))" --initial-advertise-peer-urls="http://127.0.0.1:$((ETCD_PORT+1))" \
    --initial-cluster="kc=http://127.0.0.1:$((ETCD_PORT+1))" --listen-metrics-urls="http://127.0.0.1:$((ETCD_PORT+2))"
  until curl -sf "http://127.0.0.1:$ETCD_PORT/health" >/dev/null; do sleep 0.1; done
  bg kube-apiserver "$BIN/kube-apiserver" --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$API_PORT" --cert-dir="$run/certs" \
    --service-account-issuer=https://k8s.local --service-account-key-file="$run/sa.key" \
    --service-account-signing-key-file="$run/sa.key" --token-auth-file="$run/tokens.csv" \
    --authorization-mode=Node,RBAC --service-cluster-ip-range=10.96.0.0/16 --disable-admission-plugins=ServiceAccount
  until "$k" --kubeconfig "$kc" get --raw /readyz >/dev/null 2>&1; do sleep 0.2; done
  bg kube-controller-manager "$BIN/kube-controller-manager" --kubeconfig="$kc" \
    --authentication-kubeconfig="$kc" --authorization-kubeconfig="$kc" --leader-elect=false --secure-port=0 \
    --service-account-private-key-file="$run/sa.key" --root-ca-file="$run/certs/apiserver.crt" --controllers='*' \
    --kube-api-qps=200 --kube-api-burst=400
  bg kube-scheduler "$BIN/kube-scheduler" --kubeconfig="$kc" \
    --authentication-kubeconfig="$kc" --authorization-kubeconfig="$kc" --leader-elect=false --secure-port=0
  # --node-lease-duration-seconds: without a renewed node lease the node lifecycle controller marks
  # the node lost after ~50 s and every pod NotReady for good.
  bg kwok "$BIN/kwok" --kubeconfig="$kc" -c "${KWOK_STAGES:-$BIN/kwok-stages.yaml}" --manage-all-nodes=false \
    --node-lease-duration-seconds=40 \
    --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake --node-ip=127.0.0.1 --cidr=10.244.0.0/16
  "$k" --kubeconfig "$kc" apply -f - >/dev/null <<'NODE'
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-0
  annotations: {kwok.x-k8s.io/node: fake}
  labels: {type: kwok, kubernetes.io/hostname: kwok-node-0, kubernetes.io/os: linux}
status:
  allocatable: {cpu: "32", memory: 256Gi, pods: "110"}
  capacity: {cpu: "32", memory: 256Gi, pods: "110"}
NODE
  "$k" --kubeconfig "$kc" wait --for=condition=Ready node/kwok-node-0 --timeout=60s >/dev/null
  until "$k" --kubeconfig "$kc" -n default get sa default >/dev/null 2>&1; do sleep 0.2; done
  echo "$kc"
}

down() {
  local run=$W
  [ -f "$run/pids" ] || return 0
  tac "$run/pids" | while read -r n p; do kill "$p" 2>/dev/null && log "stopped $n ($p)"; done
  sleep 1; tac "$run/pids" | while read -r _ p; do kill -9 "$p" 2>/dev/null || true; done
  : > "$run/pids"; [ -f "$run/etcd-dir" ] && rm -rf "$(cat "$run/etcd-dir")"
  return 0
}

case "${1:-build}" in
  build) build ;;
  bindir) bindir ;;
  up) up ;;
  down) down ;;
  *) echo "usage: $0 build|bindir|up|down" >&2; exit 2 ;;
esac
