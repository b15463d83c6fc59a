#!/usr/bin/env bash
# deps.sh — install what the build, tests and demo need and a fresh Debian machine may lack.
# Go modules come from the module proxy; system tools from apt-get when missing (root only).
set -euo pipefail
need=()
command -v git >/dev/null || need+=(git)
command -v openssl >/dev/null || need+=(openssl)
command -v curl >/dev/null || need+=(curl)
[ -x "$(git --exec-path 2>/dev/null)/git-http-backend" ] 2>/dev/null || need+=(git)
command -v git-lfs >/dev/null || need+=(git-lfs)   # the mirror's LFS tests and benchmark (Gitea peers)
# the console's browser tests drive Debian's chromium headless (internal/browsertest)
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "deps: installing ${need[*]} with apt-get" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "deps: missing ${need[*]}; install them (apt-get install ${need[*]})" >&2
    exit 1
  fi
fi
go mod download
