// Package envflag makes every command-line flag also an environment
// variable: --database-url is COALITION_DATABASE_URL. A flag given on the
// command line wins over the environment.
package envflag

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Prefix starts every variable name.
const Prefix = "COALITION_"

// Name is the environment variable of a flag.
func Name(flag string) string {
	return Prefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// Bind sets, before cmd or any of its subcommands runs, each flag not given
// on the command line from its environment variable, and notes the
// variable in the help of every flag of cmd and its subcommands (add the
// subcommands first).
func Bind(cmd *cobra.Command) {
	annotate := func(f *pflag.Flag) {
		if !strings.Contains(f.Usage, "$"+Name(f.Name)) {
			f.Usage += " ($" + Name(f.Name) + ")"
		}
	}
	// Every command's help, down to the leaves, names its flags' variables.
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.PersistentFlags().VisitAll(annotate)
		c.Flags().VisitAll(annotate)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(cmd)
	prev := cmd.PersistentPreRunE
	cmd.PersistentPreRunE = func(c *cobra.Command, args []string) error {
		var err error
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if f.Changed || err != nil {
				return
			}
			if v, ok := os.LookupEnv(Name(f.Name)); ok {
				if serr := c.Flags().Set(f.Name, v); serr != nil {
					err = fmt.Errorf("$%s: %w", Name(f.Name), serr)
				}
			}
		})
		if err == nil && prev != nil {
			err = prev(c, args)
		}
		return err
	}
}
