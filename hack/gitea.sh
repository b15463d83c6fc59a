#!/usr/bin/env bash
# gitea.sh — build (once, cached) Gitea, a real forge with a Git LFS server, for the mirror's LFS tests
# and benchmark.
#
#   build   build code.gitea.io/gitea@$GITEA_VER from the Go module proxy (sqlite, no bindata) into
#           $TAGRELAY_CACHE/gitea/$GITEA_VER: the binary plus the module's options/ and templates/,
#           which a build without bindata reads from its static root. A warm cache makes this a no-op.
#   dir     print that directory (builds first when missing).
#
# internal/giteatest calls "dir" and runs the server itself (free 127.0.0.1 port, sqlite, one admin).
# The version is pinned here and nowhere else. What it takes to run: /work/shared/peers/README.md.
set -euo pipefail

GITEA_VER=v1.26.0

CACHE=${TAGRELAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tagrelay}
ROOT=$CACHE/gitea/$GITEA_VER

log() { printf 'gitea: %s\n' "$*" >&2; }

build() {
  if [ -x "$ROOT/gitea" ] && [ -d "$ROOT/options" ] && [ -d "$ROOT/templates" ]; then return 0; fi
  command -v go >/dev/null || { log "go is required to build Gitea"; exit 1; }
  command -v gcc >/dev/null || { log "gcc is required to build Gitea (sqlite is cgo): apt-get install gcc"; exit 1; }
  mkdir -p "$(dirname "$ROOT")"
  local tmp mod
  tmp=$(mktemp -d "$ROOT.tmp.XXXX")
  trap 'rm -rf "${tmp:-}"; trap - RETURN' RETURN
  log "downloading code.gitea.io/gitea@$GITEA_VER"
  mod=$(go mod download -json "code.gitea.io/gitea@$GITEA_VER" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  [ -n "$mod" ] || { log "the module proxy did not give code.gitea.io/gitea@$GITEA_VER"; exit 1; }
  # The module cache is read-only and the build writes nothing there, but go build wants a writable
  # module root for its vcs stamping: build from a copy.
  cp -r "$mod" "$tmp/src" && chmod -R u+w "$tmp/src"
  log "building gitea (cold: ~3 min on 2 cores)"
  (cd "$tmp/src" && CGO_ENABLED=1 go build -trimpath -buildvcs=false -tags 'sqlite sqlite_unlock_notify' \
    -ldflags "-s -w -X main.Version=${GITEA_VER#v}" -o "$tmp/out/gitea" .)
  cp -r "$tmp/src/options" "$tmp/src/templates" "$tmp/out/"
  # publish atomically: a half-built cache must never look complete
  rm -rf "$ROOT.old"; [ -d "$ROOT" ] && mv "$ROOT" "$ROOT.old"; mv "$tmp/out" "$ROOT"; rm -rf "$ROOT.old"
  log "built into $ROOT"
}

case "${1:-}" in
  build) build ;;
  dir) build; echo "$ROOT" ;;
  *) echo "usage: $0 build|dir" >&2; exit 2 ;;
esac
