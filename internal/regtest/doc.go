// Package regtest runs real OCI registries on 127.0.0.1 for tests, `make demo` and the push
// benchmark: go-containerregistry's pkg/registry in-process, or Debian's docker-registry
// (distribution) as a child process, each behind a recording front that can require HTTP basic
// auth, serve TLS with its own CA, and refuse cross-repository blob mounts with 401 as Harbor
// does (go-containerregistry #1393).
//
// Nothing is mocked: clients speak the distribution protocol to a real server; the front only
// observes (method, path, status, bytes) and, when asked, refuses. The in-process registry
// keeps blobs per repository, so a blob pushed to one repository is not visible in another
// until it is uploaded or mounted there, as in distribution and Harbor.
package regtest
