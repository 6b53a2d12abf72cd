package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/backupkit/backupkit/config"
)

// tokenUsage documents `backupd token`.
const tokenUsage = `Usage:
  backupd token new [--name NAME] [--role viewer|operator|admin]
      print a new random API token, and the server.tokens entry (with its
      hash only) to paste into the config file
  backupd token hash < token-file
      print the hash of a token read from stdin (one line), for server.tokens
`

// cmdToken makes and hashes API tokens for the config's server.tokens.
func cmdToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return tokenCommand(args, os.Stdin, stdout, stderr)
}

func tokenCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, tokenUsage)
		return usageError{errors.New("token: want a subcommand: new or hash")}
	}
	switch args[0] {
	case "new":
		fs := flag.NewFlagSet("backupd token new", flag.ContinueOnError)
		fs.SetOutput(stderr)
		name := fs.String("name", "admin", "token `name` shown in the audit trail")
		role := fs.String("role", config.RoleAdmin, "`role`: viewer, operator or admin")
		pos, err := parse(fs, args[1:])
		if err != nil {
			return err
		}
		if len(pos) > 0 {
			return usageError{fmt.Errorf("token new: unexpected argument %q", pos[0])}
		}
		switch *role {
		case config.RoleViewer, config.RoleOperator, config.RoleAdmin:
		default:
			return usageError{fmt.Errorf("token new: --role: invalid role %q (want viewer, operator or admin)", *role)}
		}
		tok, hash, err := config.NewToken()
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "token: %s\n\n# Keep the token secret: it is shown only now. Add this to the config file:\nserver:\n  tokens:\n    - name: %s\n      role: %s\n      hash: %s\n", tok, *name, *role, hash)
		return nil
	case "hash":
		if len(args) > 1 {
			return usageError{errors.New("token hash: the token is read from stdin, not from arguments (they end up in shell history)")}
		}
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		tok := strings.TrimSpace(line)
		if tok == "" {
			return usageError{errors.New("token hash: no token on stdin")}
		}
		fmt.Fprintln(stdout, config.HashToken(tok))
		return nil
	case "-h", "--help", "help":
		fmt.Fprint(stdout, tokenUsage)
		return nil
	}
	fmt.Fprint(stderr, tokenUsage)
	return usageError{fmt.Errorf("token: unknown subcommand %q (want new or hash)", args[0])}
}
