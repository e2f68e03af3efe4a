// Command drover runs a local drover cluster; see `drover --help`.
package main

import (
	"os"

	"drover.dev/drover/app"
)

func main() {
	if err := app.NewCommand().Execute(); err != nil {
		os.Exit(1)
	}
}
