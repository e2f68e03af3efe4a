package app

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"drover.dev/drover/app/options"
	"drover.dev/drover/internal/statedir"
	"drover.dev/libs/testimages"
)

// BusyboxRef is the reference the test busybox image is written under.
const BusyboxRef = "drover.dev/test/busybox:1.35"

func newImageCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Build test images and import image archives into local nodes",
	}
	cmd.AddCommand(newImageBuildTestCommand(), newImageImportCommand())
	return cmd
}

func newImageBuildTestCommand() *cobra.Command {
	var out, push string
	cmd := &cobra.Command{
		Use:   "build-test",
		Short: "Build the busybox test image from Debian's busybox-static",
		Long: `Build the test image ` + BusyboxRef + ` (Debian's /bin/busybox with every
applet linked) and write it as an OCI archive (--output), push it to a
registry on a loopback address (--push host:port/repo:tag), or both.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" && push == "" {
				return fmt.Errorf("give --output or --push (or both)")
			}
			img, err := testimages.Busybox()
			if err != nil {
				return err
			}
			if out != "" {
				if err := testimages.WriteOCIArchive(out, BusyboxRef, img); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "wrote %s to %s\n", BusyboxRef, out)
			}
			if push != "" {
				if err := testimages.Push(cmd.Context(), push, img); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "pushed %s\n", push)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "output", "", "write an OCI image archive (tar) here")
	cmd.Flags().StringVar(&push, "push", "", "push to this reference on a loopback registry (plain HTTP)")
	return cmd
}

func newImageImportCommand() *cobra.Command {
	stateDir := options.DefaultStateDir
	cmd := &cobra.Command{
		Use:   "import ARCHIVE...",
		Short: "Import OCI or docker-save archives into every node of a local cluster",
		Long: `Copy image archives (OCI image layout tar or docker save tarball) into the
import directory of every node under --state-dir; each kubelet imports them
within seconds and moves them to its import/imported directory.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := statedir.New(stateDir)
			if err != nil {
				return err
			}
			nodes, err := filepath.Glob(filepath.Join(dir.Root, "nodes", "*"))
			if err != nil || len(nodes) == 0 {
				return fmt.Errorf("no nodes under %s: start the cluster with drover up first", dir.Root)
			}
			for _, n := range nodes {
				for _, a := range args {
					dst := filepath.Join(n, "import", filepath.Base(a))
					if err := copyInto(a, dst); err != nil {
						return err
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", filepath.Base(n), filepath.Base(a))
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&stateDir, "state-dir", stateDir, "state directory of the local cluster")
	return cmd
}

// copyInto copies src to dst through a dot-file (which the kubelet's
// watcher ignores) renamed into place, so no half file is ever imported.
func copyInto(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(dst), "."+strings.TrimPrefix(filepath.Base(dst), ".")+".part")
	out, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(tmp)
		return err
	}
	if err := out.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, dst)
}
