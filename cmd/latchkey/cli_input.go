package main

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/latchkey/latchkey/internal/textcheck"
)

// flagText applies textcheck's rule to every flag given on the command
// line: a NUL byte or invalid UTF-8 in a username, password, e-mail, client
// name or redirect URI is a usage error, on SQLite as on PostgreSQL (which
// would refuse the row).
func flagText(fs *pflag.FlagSet) error {
	var err error
	fs.Visit(func(f *pflag.Flag) {
		if err == nil && !textcheck.Valid(f.Value.String()) {
			err = fmt.Errorf("%w: --%s holds a NUL byte or is not valid UTF-8", errUsage, f.Name)
		}
	})
	return err
}
