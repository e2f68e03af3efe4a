// Command drover-controller-manager runs drover's controllers.
package main

import (
	"drover.dev/controller-manager/app"
	"drover.dev/libs/component"
)

func main() {
	component.Main(app.NewCommand())
}
