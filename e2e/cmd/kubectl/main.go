// Command kubectl is the unmodified kubectl of k8s.io/kubectl (the same main as
// k8s.io/kubernetes/cmd/kubectl), built here so that the end-to-end tests drive drover
// with the client users run.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"

	// Client auth plugins, as in the upstream kubectl binary.
	_ "k8s.io/client-go/plugin/pkg/client/auth"
)

func main() {
	// Verbosity is parsed before the command is built so that klog honours -v while
	// kubectl constructs its commands (plugins, .kuberc), as upstream does.
	logs.GlogSetter(cmd.GetLogVerbosity(os.Args)) // nolint:errcheck
	command := cmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		util.CheckErr(err)
	}
}
