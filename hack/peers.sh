#!/usr/bin/env bash
# peers.sh — build (once, cached) the GitOps reconcilers tagrelay is tested and measured against,
# from the Go module proxy, without Docker.
#
#   build flux     source-controller, kustomize-controller, notification-controller (+ their CRDs)
#   build argocd   Argo CD (one multi-call binary; + its CRDs and base config), and redis-server
#                  from Debian when missing
#   bindir flux|argocd   print the directory holding the binaries (builds first when missing)
#
# Each component is cached under $TAGRELAY_CACHE/peers/<name>-<version>/ (binary, crds/, config/);
# "bindir flux" prints a directory of links to the three controllers at the versions pinned here.
# Only binaries and manifests are cached: the Go build cache stays Go's own.
#
# Versions are pinned here and nowhere else (see ../shared/peers/README.md for why these):
# kustomize-controller v1.10 and Argo CD v3.6 need Go 1.27; source-controller v1.9.5+ and Argo CD
# v3.4+ need modules the module proxy here refuses.
#
# `go install …@version` refuses the Flux controllers (go.mod has `replace … => ./api`) and their
# module zip lacks ./api (a module of its own), so: copy the module dir, copy the api module into
# it, go build.
set -euo pipefail

SOURCE_CONTROLLER=v1.9.2
KUSTOMIZE_CONTROLLER=v1.9.6
NOTIFICATION_CONTROLLER=v1.9.2
ARGOCD=v2.14.21

CACHE=${TAGRELAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tagrelay}
PEERS=$CACHE/peers

log() { printf 'peers: %s\n' "$*" >&2; }

moddir() { go mod download -json "$1" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p'; }

# publish moves a finished build directory into place atomically: a half-built cache must never
# look complete.
publish() {
  local tmp=$1 dst=$2
  rm -rf "$dst.old"; [ -d "$dst" ] && mv "$dst" "$dst.old"; mv "$tmp" "$dst"; rm -rf "$dst.old"
}

# flux_component NAME VERSION: github.com/fluxcd/NAME at VERSION into $PEERS/NAME-VERSION.
flux_component() {
  local name=$1 ver=$2 dst=$PEERS/$1-$2
  if [ -x "$dst/$name" ] && [ -d "$dst/crds" ]; then return 0; fi
  command -v go >/dev/null || { log "go is required to build $name"; exit 1; }
  mkdir -p "$PEERS"
  local tmp; tmp=$(mktemp -d "$PEERS/.$name.XXXX")
  local mod api
  mod=$(moddir "github.com/fluxcd/$name@$ver")
  api=$(moddir "github.com/fluxcd/$name/api@$ver")
  [ -n "$mod" ] && [ -n "$api" ] || { rm -rf "$tmp"; log "downloading github.com/fluxcd/$name@$ver failed"; exit 1; }
  cp -r "$mod" "$tmp/src" && chmod -R u+w "$tmp/src"
  rm -rf "$tmp/src/api" && cp -r "$api" "$tmp/src/api" && chmod -R u+w "$tmp/src/api"
  log "building $name $ver (cold: ~2.5 min on 2 cores)"
  local start=$SECONDS
  if ! (cd "$tmp/src" && nice go build -trimpath -ldflags "-s -w" -o "$tmp/$name" .); then
    rm -rf "$tmp"; log "building $name $ver failed"; exit 1
  fi
  mkdir -p "$tmp/crds" && cp "$tmp/src/config/crd/bases/"*.yaml "$tmp/crds/"
  rm -rf "$tmp/src"
  publish "$tmp" "$dst"
  log "built $name $ver in $((SECONDS - start)) s into $dst"
}

flux_dir() { echo "$PEERS/flux-sc-$SOURCE_CONTROLLER-kc-$KUSTOMIZE_CONTROLLER-nc-$NOTIFICATION_CONTROLLER"; }

build_flux() {
  local set; set=$(flux_dir)
  if [ -x "$set/source-controller" ] && [ -x "$set/kustomize-controller" ] && [ -x "$set/notification-controller" ] &&
    [ -d "$set/crds" ]; then return 0; fi
  flux_component source-controller "$SOURCE_CONTROLLER"
  flux_component kustomize-controller "$KUSTOMIZE_CONTROLLER"
  flux_component notification-controller "$NOTIFICATION_CONTROLLER"
  local tmp; tmp=$(mktemp -d "$PEERS/.flux.XXXX")
  mkdir -p "$tmp/crds"
  for c in "source-controller $SOURCE_CONTROLLER" "kustomize-controller $KUSTOMIZE_CONTROLLER" \
           "notification-controller $NOTIFICATION_CONTROLLER"; do
    set -- $c
    ln -s "$PEERS/$1-$2/$1" "$tmp/$1"
    cp "$PEERS/$1-$2/crds/"*.yaml "$tmp/crds/"
  done
  publish "$tmp" "$set"
}

argocd_dir() { echo "$PEERS/argocd-$ARGOCD"; }

build_argocd() {
  need_redis
  local dst; dst=$(argocd_dir)
  if [ -x "$dst/argocd" ] && [ -d "$dst/crds" ] && [ -d "$dst/config" ]; then return 0; fi
  command -v go >/dev/null || { log "go is required to build Argo CD"; exit 1; }
  mkdir -p "$PEERS"
  local tmp mod; tmp=$(mktemp -d "$PEERS/.argocd.XXXX")
  mod=$(moddir "github.com/argoproj/argo-cd/v2@$ARGOCD")
  [ -n "$mod" ] || { rm -rf "$tmp"; log "downloading github.com/argoproj/argo-cd/v2@$ARGOCD failed"; exit 1; }
  cp -r "$mod" "$tmp/src" && chmod -R u+w "$tmp/src"
  log "building argocd $ARGOCD (cold: ~3 min on 2 cores)"
  local start=$SECONDS pkg=github.com/argoproj/argo-cd/v2/common
  # The version makes `argocd version` and the API's /api/version truthful (the Makefile's ldflags).
  local ldf="-s -w -X $pkg.version=${ARGOCD#v} -X $pkg.gitTag=$ARGOCD -X $pkg.gitTreeState=clean"
  if ! (cd "$tmp/src" && nice go build -trimpath -ldflags "$ldf" -o "$tmp/argocd" ./cmd); then
    rm -rf "$tmp"; log "building argocd $ARGOCD failed"; exit 1
  fi
  mkdir -p "$tmp/crds" "$tmp/config"
  for f in "$tmp/src/manifests/crds/"*.yaml; do
    [ "$(basename "$f")" = kustomization.yaml ] || cp "$f" "$tmp/crds/"
  done
  cp "$tmp/src/manifests/base/config/"argocd-*.yaml "$tmp/config/"
  cp "$tmp/src/assets/swagger.json" "$tmp/swagger.json"
  rm -rf "$tmp/src"
  publish "$tmp" "$dst"
  log "built argocd $ARGOCD in $((SECONDS - start)) s into $dst"
}

# need_redis installs Debian's redis-server when missing: Argo CD keeps its cache in redis.
need_redis() {
  command -v redis-server >/dev/null && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing redis-server with apt-get"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  else
    log "redis-server is missing; install it (apt-get install redis-server)"
    exit 1
  fi
}

usage() { echo "usage: $0 build|bindir flux|argocd" >&2; exit 2; }

[ $# -eq 2 ] || usage
case "$1/$2" in
  build/flux) build_flux ;;
  build/argocd) build_argocd ;;
  bindir/flux) build_flux; flux_dir ;;
  bindir/argocd) build_argocd; argocd_dir ;;
  *) usage ;;
esac
