package clirun

import "github.com/urfave/cli/v2"

// Version is set at build time with -ldflags "-X github.com/tagrelay/tagrelay/internal/clirun.Version=v1.2.3".
var Version = "dev"

// NewSingleApp returns an app that runs one command at its root, for the single-purpose
// binaries of small CI images: tagrelay-bump --file … is tagrelay bump --file ….
func NewSingleApp(env *Env, name string, cmd *cli.Command) *cli.App {
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
