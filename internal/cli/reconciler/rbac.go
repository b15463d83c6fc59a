package reconciler

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/tagrelay/tagrelay/internal/clirun"
	"github.com/tagrelay/tagrelay/reconcile"
)

func newRBACCommand(env *clirun.Env) *cli.Command {
	o := &clusterOptions{}
	apply := false
	serviceAccount := ""
	return &cli.Command{
		Name:  "rbac",
		Usage: "print (or --apply) the RBAC that lets the reconciler write into its apps' namespaces and nothing more",
		UsageText: "tagrelay-reconciler rbac --config apps.yaml | kubectl apply -f -\n" +
			"tagrelay-reconciler rbac --config apps.yaml --apply      (as a cluster admin)",
		Description: "Generated from the apps config, on top of deploy/ (which grants only discovery cluster-wide and its own namespace):\n" +
			"per destination namespace a Role + RoleBinding (the built-in workload kinds, the apps' extraKinds, bind on their allowRoles;\n" +
			"no pods/exec, pods/attach, pods/portforward or serviceaccounts/token), a ClusterRole with get on those namespaces by name\n" +
			"and the cluster kinds the apps allow, and the namespaces of apps with createNamespace (Pod Security label set).\n" +
			"Without --apply no cluster is needed: kinds are mapped to resources by their plural (with --apply, by discovery).",
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: "apply", Usage: "server-side apply it to the cluster (needs the rights it grants: a cluster admin's)", EnvVars: []string{"TAGRELAY_APPLY"}, Destination: &apply},
			&cli.StringFlag{Name: "service-account", Value: "tagrelay-reconciler", Usage: "the reconciler's ServiceAccount `NAME` in --namespace", EnvVars: []string{"TAGRELAY_SERVICE_ACCOUNT"}, Destination: &serviceAccount},
		}, clusterFlags(o)...),
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return clirun.Usagef("rbac takes no argument: it covers every app of --config", "unexpected argument %q", c.Args().First())
			}
			opts := reconcile.RBACOptions{Namespace: o.namespace, ServiceAccount: serviceAccount}
			if !apply {
				cfg, _, err := o.loadConfig(env)
				if err != nil {
					return err
				}
				objs, err := reconcile.RBAC(cfg, opts)
				if err != nil {
					return err
				}
				return emitObjects(env, &o.common, objs)
			}
			cfg, r, log, err := o.setup(env)
			if err != nil {
				return err
			}
			opts.Mapper = r.RESTMapper()
			objs, err := reconcile.RBAC(cfg, opts)
			if err != nil {
				return err
			}
			if err := r.ApplyRBAC(c.Context, objs); err != nil {
				return err
			}
			log.Info("applied the reconciler's RBAC", "objects", len(objs))
			return emitObjects(env, &o.common, objs)
		},
	}
}

// emitObjects prints objects as a YAML stream, or a v1 List with --output json.
func emitObjects(env *clirun.Env, common *clirun.Common, objs []*unstructured.Unstructured) error {
	var b strings.Builder
	list := &unstructured.UnstructuredList{Object: map[string]any{"apiVersion": "v1", "kind": "List"}}
	for _, u := range objs {
		list.Items = append(list.Items, *u)
		if err := writeDoc(&b, fmt.Sprintf("# %s", u.GetKind()), u); err != nil {
			return err
		}
	}
	return env.Emit(common, list, b.String(), nil)
}
