// Command parley is the Parley daemon and its operator's command line:
//
//	parley serve [--config FILE] [--data DIR] [--domain D] [--smtp ADDR] [--imap ADDR] [--submission ADDR]
//	             [--smarthost HOST:PORT] [--outbox DIR]
//	parley init [--config FILE]
//	parley trader add --handle H --name N --email E [--lang L]
//	parley trader list
//	parley case list [--json]
//	parley case show ID [--json]
//	parley case verify ID
//	parley case export ID -o FILE.zip
//	parley case verify-export FILE.zip
//	parley mediator add --email E --name N [--lang L]   (password from stdin or PARLEY_PASSWORD)
//	parley backup -o FILE.tar
//	parley restore FILE.tar --data DIR
//	parley fsck [--repair] [--min-age D] [--json]
//
// The admin commands take --data DIR and --config FILE, and work whether or
// not `serve` runs on the same data folder (they use its control socket).
package main

import (
	"errors"
	"fmt"
	"os"
	_ "time/tzdata" // time zones even on a machine without a zoneinfo database
)

const usage = `usage: parley COMMAND [flags]

commands:
  serve                run the daemon (SMTP, IMAP for mediators, submission, procedure, delivery)
  init                 write a commented sample config (parley.toml)
  trader add|list      register traders: HANDLE@DOMAIN becomes their complaint address
  trader show H        a trader's addresses and domains
  trader address add|remove H EMAIL [--cc]   a staff address that speaks for the shop
  trader domain add|remove H DOMAIN          any address at DOMAIN speaks for the shop
  case list|show ID    show cases, parties and their timeline
  case verify ID       check the case's event chain (exit 0 when intact)
  case export ID -o F  write the case file (zip: .eml, evidence, events, manifest, summary)
  case verify-export F check a case file's digests and event chain, offline
  mediator add|list    register mediators (password from stdin or PARLEY_PASSWORD); add again to change it
  backup -o FILE.tar   copy the data folder (database snapshot, blobs, keys), also while serve runs
  restore FILE.tar --data DIR   make a data folder (new or empty) from a backup, checking every digest
  fsck [--repair]      report blobs missing or unreferenced and broken event chains; --repair removes unreferenced blobs

Run "parley COMMAND -h" for the flags of a command.
`

func main() {
	if err := run(os.Args[1:]); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprint(os.Stderr, usage)
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "parley:", err)
		os.Exit(1)
	}
}

type usageError struct{}

func (usageError) Error() string { return "usage" }

func run(args []string) error {
	if len(args) == 0 {
		return usageError{}
	}
	switch args[0] {
	case "serve":
		return cmdServe(args[1:])
	case "init":
		return cmdInit(args[1:])
	case "trader":
		return cmdTrader(args[1:])
	case "case":
		return cmdCase(args[1:])
	case "mediator":
		return cmdMediator(args[1:])
	case "backup":
		return cmdBackup(args[1:])
	case "restore":
		return cmdRestore(args[1:])
	case "fsck":
		return cmdFsck(args[1:])
	case "help", "-h", "--help":
		fmt.Print(usage)
		return nil
	}
	return usageError{}
}
