# tagrelay — build, test, demo, bench, lint. Each target installs what it needs itself.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
GO ?= go
export GOFLAGS ?= -buildvcs=false
CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/tagrelay
export TAGRELAY_CACHE := $(CACHE)
TOOLS := $(CACHE)/tools
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/tagrelay/tagrelay/internal/clirun.Version=$(VERSION)
# urfave_cli_no_docs drops urfave/cli's man/markdown generators (unused): ~2 ms less start-up.
TAGS := urfave_cli_no_docs
BINARIES := $(notdir $(wildcard cmd/*))
STATICCHECK_VERSION := v0.7.0

.PHONY: all build deps cluster peers test test-short demo bench lint clean release-binaries image publish-components
all: build

build: ## static binaries into bin/
	CGO_ENABLED=0 $(GO) build -trimpath -tags '$(TAGS)' -ldflags '$(LDFLAGS)' -o bin/ ./cmd/...

deps: ## system packages (apt-get when missing) and Go modules
	@hack/deps.sh

cluster: ## build the test cluster binaries (etcd, kube-apiserver, ..., kwok) once, cached
	@hack/testcluster.sh build

peers: ## build Flux and Argo CD from the Go module proxy once, cached (the gitops tests run them)
	@hack/peers.sh build flux
	@hack/peers.sh build argocd

test: deps cluster peers ## every test, including the real-cluster ones
	$(GO) test -count=1 -timeout 30m ./...

test-short: deps ## tests that need no cluster
	$(GO) test -short -count=1 ./...

demo: deps build ## the whole chain on local servers
	$(GO) run ./test/demo

BENCHES ?= bump push mirror reconcile

bench: deps cluster ## side-by-side benchmarks against git, kustomize, crane, skopeo, kubectl (bench/README.md); BENCHES="bump push" for a subset
	for b in $(BENCHES); do echo "== bench/$$b"; $(GO) run ./bench/$$b; done

lint: ## go vet, gofmt, staticcheck
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@[ -x $(TOOLS)/staticcheck-$(STATICCHECK_VERSION) ] || { GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) && mv $(TOOLS)/staticcheck $(TOOLS)/staticcheck-$(STATICCHECK_VERSION); }
	$(TOOLS)/staticcheck-$(STATICCHECK_VERSION) ./...

DIST ?= dist
RELEASE_PLATFORMS := linux/amd64 linux/arm64

release-binaries: ## static linux/amd64 + arm64 binaries of every command and SHA256SUMS into dist/bin
	rm -rf $(DIST)/bin && mkdir -p $(DIST)/bin
	for p in $(RELEASE_PLATFORMS); do os=$${p%/*}; arch=$${p#*/}; \
	  for b in $(BINARIES); do \
	    CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -tags '$(TAGS)' -ldflags '$(LDFLAGS)' -o $(DIST)/bin/$$b-$$os-$$arch ./cmd/$$b; \
	  done; \
	done
	cd $(DIST)/bin && sha256sum tagrelay* > SHA256SUMS && cat SHA256SUMS

image: ## OCI image layout of the CLIs into dist/image, without Docker (BASE=alpine/git@sha256:... for CI; default scratch)
	@[ -d $(DIST)/bin ] || $(MAKE) release-binaries
	$(GO) run ./hack/ociimage --bin $(DIST)/bin --version $(VERSION) --out $(DIST)/image $(if $(BASE),--base $(BASE))
	@echo "push it with: bin/tagrelay push --source $(DIST)/image --dest REGISTRY/tagrelay/tagrelay --tag $(VERSION)"

publish-components: ## push ci-templates/gitlab/components as its own project: make publish-components REMOTE=https://gitlab.example/tagrelay/components.git
	@[ -n "$(REMOTE)" ] || { echo "set REMOTE to the component project's URL"; exit 2; }
	sha=$$(git subtree split --prefix ci-templates/gitlab/components HEAD) && \
	  git push "$(REMOTE)" "$$sha:refs/heads/main" && \
	  { case "$(VERSION)" in v[0-9]*.[0-9]*.[0-9]*) git push "$(REMOTE)" "$$sha:refs/tags/$(patsubst v%,%,$(VERSION))" ;; esac; }

clean:
	rm -rf bin dist
