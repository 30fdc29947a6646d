package main

import (
	"fmt"

	"github.com/hashicorp/go-multierror"
	"github.com/spf13/cobra"

	"github.com/rsyncd-go/rsyncd-go/instances"
)

func newImportCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "import FILE",
		Short: "Print the instance YAML equivalent to an rsyncd.conf",
		Long: `import converts an rsyncd.conf(5) file into the instance YAML that serves
the same modules the same way, and prints it. Every parameter rsyncd-go does
not take is reported with its file:line and the exit status is non-zero.
Problems of the result on this machine (a missing module path, a secrets
file others can read) are printed as warnings.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := instances.ConvertConf(args[0], instances.ConfOptions{})
			if err != nil {
				return err
			}
			var errs []error
			errs = append(errs, c.Problems...)
			if inst, err := c.Load(); err != nil {
				for _, e := range problems(err) {
					fmt.Fprintln(cmd.ErrOrStderr(), "warning:", e)
				}
			} else {
				errs = append(errs, unsupported(inst)...)
			}
			if _, err := cmd.OutOrStdout().Write(c.YAML); err != nil {
				return fmt.Errorf("import: %w", err)
			}
			if len(errs) > 0 {
				return multierror.Append(nil, errs...)
			}
			return nil
		},
	}
}
