// Command parley is the Parley daemon and its operator's command line:
//
//	parley serve [--config FILE] [--data DIR] [--domain D] [--smtp ADDR] [--imap ADDR] [--submission ADDR]
//	             [--smarthost HOST:PORT] [--outbox DIR] [--metrics ADDR|off]
//	parley init [--config FILE] [--data DIR] [--force]
//	parley dns [--domain D] [--check] [--mta-sts-policy]
//	parley trader add --handle H --name N --email E [--lang L]
//	parley trader list
//	parley case list [--limit N] [--after ID] [--all] [--json]
//	parley case show ID [--json]
//	parley case verify ID
//	parley case export ID -o FILE.zip
//	parley case verify-export FILE.zip
//	parley mediator add --email E --name N [--lang L]   (password asked on a terminal, else stdin or PARLEY_PASSWORD)
//	parley version
//	parley backup -o FILE.tar
//	parley restore FILE.tar --data DIR
//	parley fsck [--repair] [--min-age D] [--json]
//	parley compact
//
// The admin commands take --data DIR and --config FILE, and work whether or
// not `serve` runs on the same data folder (they use its control socket);
// compact alone needs it stopped.
// Flags may come before or after the positional arguments (args.go).
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	_ "time/tzdata" // time zones even on a machine without a zoneinfo database
)

const usage = `usage: parley COMMAND [flags]

commands:
  serve                run the daemon (SMTP, IMAP for mediators, submission, procedure, delivery)
  init                 write a commented sample config (parley.toml) and create its data folder
  dns [--check]        the DNS records to publish (MX, SPF, DKIM, DMARC, MTA-STS, TLS-RPT); --check looks them up
  trader add|list      register traders: HANDLE@DOMAIN becomes their complaint address
  trader show H        a trader's addresses and domains
  trader address add|remove H EMAIL [--cc]   a staff address that speaks for the shop
  trader domain add|remove H DOMAIN          any address at DOMAIN speaks for the shop
  case list|show ID    show cases, parties and their timeline
  case verify ID       check the case's event chain (exit 0 when intact)
  case export ID -o F  write the case file (zip: .eml, evidence, events, manifest, summary)
  case verify-export F check a case file's digests and event chain, offline
  mediator add|list    register mediators (password asked on a terminal, else from stdin or PARLEY_PASSWORD);
                       add again to change it
  version              the version, commit and Go it was built from (also: parley --version)
  backup -o FILE.tar   copy the data folder (database snapshot, blobs, keys), also while serve runs
  restore FILE.tar --data DIR   make a data folder (new or empty) from a backup, checking every digest
  fsck [--repair]      report blobs missing or unreferenced and broken event chains; --repair removes unreferenced blobs
  compact              rewrite the database file with every page full, giving back the space purges left
                       (serve stopped; needs free space for the copy)

Flags may come before or after a command's arguments; --config and --data also before the command.
Run "parley COMMAND -h" for the flags of a command.
`

func main() {
	err := run(os.Args[1:])
	var ue usageError
	switch {
	case err == nil, errors.Is(err, errHelp):
	case errors.As(err, &ue) && ue.msg == "":
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	case errors.As(err, &ue):
		fmt.Fprintln(os.Stderr, "parley:", ue.msg)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "parley:", err)
		os.Exit(1)
	}
}

// commands are the first words of the command line. A new command is a
// func(args []string) error and one line here (and one in usage).
func commands() []command {
	return []command{
		{"serve", cmdServe},
		{"init", cmdInit},
		{"dns", cmdDNS},
		{"backup", cmdBackup},
		{"restore", cmdRestore},
		{"fsck", cmdFsck},
		{"compact", cmdCompact},
		{"trader", cmdTrader},
		{"case", cmdCase},
		{"mediator", cmdMediator},
		{"version", cmdVersion},
		{"help", func([]string) error { fmt.Print(usage); return nil }},
	}
}

func run(args []string) error {
	args = hoistGlobals(args)
	if len(args) == 0 {
		return usageError{}
	}
	switch args[0] {
	case "-h", "-help", "--help":
		fmt.Print(usage)
		return nil
	case "-version", "--version":
		return cmdVersion(nil)
	}
	if name, _, _ := strings.Cut(strings.TrimLeft(args[0], "-"), "="); strings.HasPrefix(args[0], "-") && name != "config" && name != "data" {
		return usageError{fmt.Sprintf("flag %s before the command: only --config, --data, --help and --version go there", args[0])}
	}
	return dispatch("", args, commands())
}
