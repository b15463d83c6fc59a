// Package registry puts images into OCI registries and asks them about images, on top of
// go-containerregistry: push from an OCI layout, an OCI or docker tarball or another registry
// (retag, promote, copy), digest lookups, waiting for a tag, and Harbor's vulnerability scan.
// It is CLI-free: no flags, no environment variables, no exit codes; failures carry
// internal/errdefs classes that the command line maps to exit codes.
//
// # Client
//
// A Client is long-lived: build it once from ClientOptions (data, usually from flags) and reuse
// it. It caches the authenticated transport of each registry and scope set, so polling does not
// repeat the ping and token handshake.
//
//	o := registry.DefaultClientOptions()
//	o.Username, o.Password = "robot$team+ci", password // or leave empty: docker config.json
//	o.CredentialRegistries = []string{"harbor.example"}  // where Username/Password go
//	o.CAFiles = []string{"/etc/ssl/private-ca.pem"}
//	c, err := registry.NewClient(o)
//
// Credentials: Username/Password for CredentialRegistries (all registries when empty), and for
// every other registry the docker config.json of DockerConfig (or authn.DefaultKeychain:
// $DOCKER_CONFIG, ~/.docker/config.json) with its "auths" (base64 "auth" keeps a Harbor robot's
// "$" intact), "credsStore" and "credHelpers". TLS: the system roots (Go honours SSL_CERT_FILE
// and SSL_CERT_DIR) plus CAFiles; Insecure skips verification and allows plain HTTP, and logs
// a warning each time a registry is contacted. Requests answered 408, 429 or 5xx, and network
// errors, are retried with backoff (ggcr's retry transport, Retry).
//
// # Looking images up (bump's registry check)
//
//	digest, err := c.Digest(ctx, "harbor.example/team/app:1a2b3c4d")
//	// errors.Is(err, registry.ErrNotFound): the tag does not exist (errdefs.ErrNotFound, exit 4)
//	// errors.Is(err, registry.ErrUnauthorized): credentials refused (exit 1)
//
//	img, err := c.Head(ctx, ref)              // digest, media type, size
//	digest, err := c.WaitFor(ctx, ref, 10*time.Second)
//
// Digest sends one manifest HEAD, and a GET when the registry refuses HEAD or omits the digest
// header. WaitFor polls until the reference exists (--wait-for-image): bound it with a context
// deadline; when the deadline passes it returns an error wrapping both ctx.Err() and the last
// lookup error (so errors.Is(err, ErrNotFound) tells "never appeared"); errors other than
// not-found and unavailable (bad credentials, an invalid reference) end the wait at once.
//
// # Pushing
//
// Plan, then Apply; Push does both:
//
//	src, err := c.OpenSource(ctx, "build/oci")    // or image.tar, oci-archive:x.tar, REGISTRY/REPO:TAG
//	defer src.Close()
//	res, err := c.Push(ctx, src, "harbor.example/team/app", []string{"1a2b3c4d", "v1.4.0"})
//
// OpenSource detects the kind (SourceKind) and checks a local source completely (every blob
// present with its size) before anything is written. Plan HEADs every tag at once: a tag that
// points at another digest is ErrTagExists naming both digests unless WithForce; when every tag
// already points at the digest, the plan is returned with ErrUnchanged (errdefs.ErrNoop).
// Nothing is written before all tags are decided. Apply then writes the content once and one
// manifest PUT per further tag:
//
//   - ModeTag: the content is already in the repository (retag, or re-push): manifest PUTs only;
//   - ModeCopy: from another repository or registry: blobs are mounted when the registry allows
//     it and streamed from the source when it refuses (Harbor answers 401: ggcr #1393);
//   - ModeUpload: from a local source; blobs already present are never uploaded again.
//
// Index digests are preserved: an index is pushed byte for byte, children first. At most
// ClientOptions.Jobs blob bodies are in flight. WithProgress streams ggcr's progress updates.
// Result.Stats counts requests, uploads, mounts (and refused ones) and bytes sent.
//
// # Harbor
//
// RequireScan waits for Harbor's vulnerability scan of a pushed artifact (API v2.0
// scan_overview), triggers one when none exists, and returns ErrVulnerable when a finding is
// at or above ScanOptions.FailAt; for an index, each platform's report is checked.
package registry
