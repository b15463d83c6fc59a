// Package render turns a directory of a git commit into Kubernetes objects — plain manifests,
// a Kustomize overlay or a Helm chart — within limits that no repository can pass: it is the
// first thing in the reconciler that touches content a project team wrote.
//
//	res, err := render.Render(ctx, render.Request{
//		Name: "web", Namespace: "team-web", Files: files, Path: "apps/web", // files: path → content
//	}, render.Options{Limits: render.Limits{Timeout: time.Minute}})
//	for _, o := range res.Objects { o.Object, o.Source }  // *unstructured.Unstructured, "apps/web/deploy.yaml"
//	for _, h := range res.Hooks { h.Events, h.Weight }    // Helm hooks, never mixed with the objects
//
// The limits (Limits; every field has a default):
//
//   - YAML aliases: every file is measured with AliasNodes before Kustomize, Helm or a decoder
//     parses it — the files plain rendering decodes, every file krusty reads (through its file
//     system), every file of a chart and of its packaged subcharts, the values files, and every
//     template's output. The nodes the aliases of a render expand to are bounded (10,000); the
//     error names the file and the count. kyaml expands aliases without limit (measured: 9-wide
//     lists nested 5 deep, 330 bytes, cost krusty 5.7 s and 258 MB; 7 deep exhaust 24 GB);
//     sigs.k8s.io/yaml refuses them only by the ratio of aliases to nodes.
//   - Remote content: a Kustomize resource, base or component on http(s) or git, and a Helm
//     dependency that charts/ does not vendor, are refused before any connection unless their
//     host is in Limits.AllowedHosts. Allowed ones are fetched here, within the byte limit and
//     the render's deadline (http(s) files with Options.HTTP, git bases with Options.Git), and
//     krusty builds from the local copy; krusty's own network code is never reached. Remote
//     references elsewhere (patch paths, generator files, plugin configurations) and OCI chart
//     dependencies are always refused: vendor them. file:// and ssh/scp forms are refused.
//   - Time: Limits.Timeout (60 s) bounds the render. Kustomize and Helm's template engine
//     cannot be interrupted: past the deadline the render returns ErrTimeout and its goroutine
//     is left to finish (a template's loop keeps one CPU busy until it ends).
//   - Size: the rendered output (32 MiB) and the number of objects and hooks (5,000).
//
// Helm uses the smallest part of the SDK: chart/loader, chartutil, engine and releaseutil,
// never pkg/action (which links release storage drivers and the OCI registry client). The
// engine gets no cluster client (lookup returns nothing) and no DNS. Capabilities are data
// (Options.Capabilities; Helm's defaults without them): the package makes no client-go call.
//
// Errors carry an errdefs class: ErrNotFound for a path that does not exist, ErrPrecondition
// for a refused remote reference, ErrInvalid (with ErrRender) for everything else; a
// *LimitError says which limit (ErrAliasBomb, ErrRemote, ErrTimeout, ErrTooLarge,
// ErrTooManyObjects) and which file. A panic inside Kustomize or Helm is an error of the render.
package render
