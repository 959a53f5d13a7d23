package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// outputFlag is the --output format of a command that prints a result.
type outputFlag string

// The --output formats.
const (
	outputJSON  outputFlag = "json"
	outputTable outputFlag = "table"
)

func (o *outputFlag) String() string { return string(*o) }

// Set implements pflag.Value: json or table.
func (o *outputFlag) Set(v string) error {
	switch f := outputFlag(v); f {
	case outputJSON, outputTable:
		*o = f
		return nil
	}
	return fmt.Errorf("want json or table, got %q", v)
}

// Type implements pflag.Value.
func (o *outputFlag) Type() string { return "format" }

// register adds --output (-o) to cmd, with shell completion of its values.
func (o *outputFlag) register(cmd *cobra.Command) {
	cmd.Flags().VarP(o, "output", "o", "output format: json or table")
	_ = cmd.RegisterFlagCompletionFunc("output", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{string(outputJSON), string(outputTable)}, cobra.ShellCompDirectiveNoFileComp
	})
}

// print writes v as indented JSON, or as a two-column table of the keys in
// order that v holds.
func (o outputFlag) print(w io.Writer, order []string, v map[string]any) error {
	if o != outputTable {
		return printJSON(w, v)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, k := range order {
		val, ok := v[k]
		if !ok {
			continue
		}
		if list, ok := val.([]string); ok {
			val = strings.Join(list, ",")
		}
		fmt.Fprintf(tw, "%s\t%v\n", strings.ToUpper(k), val)
	}
	return tw.Flush()
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
