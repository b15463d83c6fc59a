// Package tagrelay builds the tagrelay command-line app and its commands. Each command has one
// constructor, shared by the umbrella binary (tagrelay bump …) and the single-purpose ones
// (tagrelay-bump …).
package tagrelay

import (
	"github.com/urfave/cli/v2"

	"github.com/tagrelay/tagrelay/internal/clirun"
)

// Version is set at build time with -ldflags "-X github.com/tagrelay/tagrelay/internal/cli/tagrelay.Version=v1.2.3".
var Version = "dev"

// NewApp returns the tagrelay app with every command.
func NewApp(env *clirun.Env) *cli.App {
	return &cli.App{
		Name:    "tagrelay",
		Usage:   "carry a commit from an app repository to running pods, GitOps-style",
		Version: Version,
		Description: "Every stage refuses a no-op loudly: a deploy that changes no image tag exits 3.\n" +
			"Exit codes: 0 done, 1 failure, 2 usage/input error, 3 no-op refused, 4 precondition failed.",
		Commands: []*cli.Command{
			NewPushCommand(env),
			NewBumpCommand(env),
			NewMirrorCommand(env),
			NewTriggerCommand(env),
			NewReleaseCommand(env),
		},
		Writer:               env.Stdout,
		ErrWriter:            env.Stderr,
		Reader:               env.Stdin,
		HideHelpCommand:      true,
		EnableBashCompletion: true,
	}
}

// NewSingleApp returns an app that runs one command at its root, for the single-purpose
// binaries of small CI images: tagrelay-bump --file … is tagrelay bump --file ….
func NewSingleApp(env *clirun.Env, name string, cmd *cli.Command) *cli.App {
	return &cli.App{
		Name:            name,
		Usage:           cmd.Usage,
		UsageText:       cmd.UsageText,
		Description:     cmd.Description,
		Version:         Version,
		Flags:           cmd.Flags,
		Action:          cmd.Action,
		Before:          cmd.Before,
		Writer:          env.Stdout,
		ErrWriter:       env.Stderr,
		Reader:          env.Stdin,
		HideHelpCommand: true,
	}
}
