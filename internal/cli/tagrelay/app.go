// Package tagrelay builds the tagrelay command-line app. Each command lives in a package of its
// own (pushcmd, bumpcmd, mirrorcmd, triggercmd, releasecmd) with one constructor, shared by the
// umbrella binary (tagrelay bump …) and the single-purpose ones (tagrelay-bump …).
package tagrelay

import (
	"github.com/urfave/cli/v2"

	"github.com/tagrelay/tagrelay/bump"
	"github.com/tagrelay/tagrelay/internal/cli/bumpcmd"
	"github.com/tagrelay/tagrelay/internal/cli/bumpcmd/renderengine"
	"github.com/tagrelay/tagrelay/internal/cli/mirrorcmd"
	"github.com/tagrelay/tagrelay/internal/cli/pushcmd"
	"github.com/tagrelay/tagrelay/internal/cli/releasecmd"
	"github.com/tagrelay/tagrelay/internal/cli/triggercmd"
	"github.com/tagrelay/tagrelay/internal/clirun"
)

// NewApp returns the tagrelay app with every command. Its bump has the render check
// (--render, --explain): this binary links the reconciler's render code, tagrelay-bump does not.
func NewApp(env *clirun.Env) *cli.App {
	bumpcmd.SetRenderEngine(renderEngine)
	return &cli.App{
		Name:    "tagrelay",
		Usage:   "carry a commit from an app repository to running pods, GitOps-style",
		Version: clirun.Version,
		Description: "Every stage refuses a no-op loudly: a deploy that changes no image tag exits 3.\n" +
			"Exit codes: 0 done, 1 failure, 2 usage/input error, 3 no-op refused, 4 precondition failed.",
		Commands: []*cli.Command{
			pushcmd.NewCommand(env),
			bumpcmd.NewCommand(env),
			mirrorcmd.NewCommand(env),
			triggercmd.NewCommand(env),
			releasecmd.NewCommand(env),
			renderengine.NewWorkerCommand(env), // hidden: Helm templates of bump --render
		},
		Writer:               env.Stdout,
		ErrWriter:            env.Stderr,
		Reader:               env.Stdin,
		HideHelpCommand:      true,
		EnableBashCompletion: true,
	}
}

// renderEngine is bump's render check with the reconciler's render code.
func renderEngine(s bump.RenderSettings, apps []byte, app string) (bumpcmd.RenderChecker, error) {
	c, err := renderengine.New(s, apps, app)
	if err != nil {
		return nil, err
	}
	return c, nil
}
