package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"parley/casefile"
	"parley/casestore"
	"parley/control"
	"parley/threading"
)

func cmdTrader(args []string) error {
	if len(args) == 0 {
		return usageError{}
	}
	fs := flag.NewFlagSet("trader "+args[0], flag.ContinueOnError)
	var cf commonFlags
	cf.register(fs)
	switch args[0] {
	case "add":
		var req control.TraderAdd
		var emails, cc, domains listFlag
		fs.StringVar(&req.Handle, "handle", "", "complaint address local part: HANDLE@DOMAIN")
		fs.StringVar(&req.Name, "name", "", "the shop's name as parties see it")
		fs.Var(&emails, "email", "the shop's address; the first gets its notices, more speak for it too (repeatable)")
		fs.Var(&cc, "cc", "a staff address that gets a copy of all the shop's mail (repeatable)")
		fs.Var(&domains, "domain", "any address at this domain speaks for the shop (repeatable)")
		fs.StringVar(&req.Lang, "lang", "en", "language of the trader's messages")
		if _, err := parseFlags(fs, args[1:], 0); err != nil {
			return err
		}
		if len(emails) == 0 {
			return fmt.Errorf("trader add: --email is required")
		}
		req.Email, req.Staff, req.CC, req.Domains = emails[0], emails[1:], cc, domains
		ops, done, err := admin(&cf)
		if err != nil {
			return err
		}
		defer done()
		tr, err := ops.AddTrader(req)
		if err != nil {
			return err
		}
		fmt.Printf("trader %s (%s, %s, %s) registered\n", tr.Handle, tr.Name, tr.Email, tr.Lang)
		return nil
	case "show":
		asJSON := fs.Bool("json", false, "print JSON")
		pos, err := parseFlags(fs, args[1:], 1)
		if err != nil {
			return err
		}
		ops, done, err := admin(&cf)
		if err != nil {
			return err
		}
		defer done()
		tr, err := ops.Trader(pos[0])
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(tr)
		}
		printTrader(tr)
		return nil
	case "address", "domain":
		// trader address add|remove HANDLE EMAIL [--cc]; trader domain add|remove HANDLE DOMAIN
		if len(args) < 2 || (args[1] != "add" && args[1] != "remove") {
			return fmt.Errorf("trader %s: want add or remove, then HANDLE and the %s", args[0], args[0])
		}
		fs = flag.NewFlagSet("trader "+args[0]+" "+args[1], flag.ContinueOnError)
		cf.register(fs)
		ccFlag := false
		if args[0] == "address" && args[1] == "add" {
			fs.BoolVar(&ccFlag, "cc", false, "the address gets a copy of all the shop's mail, not only in cases it wrote in")
		}
		pos, err := parseFlags(fs, args[2:], 2)
		if err != nil {
			return err
		}
		req := control.TraderChange{Handle: pos[0], CC: ccFlag}
		switch args[0] + " " + args[1] {
		case "address add":
			req.AddEmail = pos[1]
		case "address remove":
			req.RemoveEmail = pos[1]
		case "domain add":
			req.AddDomain = pos[1]
		case "domain remove":
			req.RemoveDomain = pos[1]
		}
		ops, done, err := admin(&cf)
		if err != nil {
			return err
		}
		defer done()
		tr, err := ops.ChangeTrader(req)
		if err != nil {
			return err
		}
		printTrader(tr)
		return nil
	case "list":
		return listCmd(args[1:], "trader list", (control.Interface).Traders, "HANDLE\tNAME\tEMAIL\tLANG",
			func(t casestore.Trader) []any { return []any{t.Handle, t.Name, t.Email, t.Lang} })
	}
	return usageError{}
}

func cmdCase(args []string) error {
	if len(args) == 0 {
		return usageError{}
	}
	fs := flag.NewFlagSet("case "+args[0], flag.ContinueOnError)
	var cf commonFlags
	cf.register(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	switch args[0] {
	case "list":
		return listCmd(args[1:], "case list", (control.Interface).Cases, "CASE\tOPENED\tSTATE\tTRADER\tCONSUMER\tMSGS\tTITLE",
			func(c control.CaseSummary) []any {
				state := c.State
				if c.Outcome != "" {
					state += "/" + c.Outcome
				}
				return []any{c.ID, c.Created.Format("2006-01-02 15:04"), state, c.Trader, c.Consumer, c.Messages, c.Title}
			})
	case "export":
		return cmdExport(args[1:])
	case "verify-export":
		if len(args) != 2 {
			return fmt.Errorf("case verify-export: which file? (parley case verify-export FILE.zip)")
		}
		return verifyExport(args[1])
	case "show", "verify":
		// Accept the id before or after the flags.
		rest := args[1:]
		var id string
		if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
			id, rest = rest[0], rest[1:]
		}
		if err := fs.Parse(rest); err != nil {
			return usageError{}
		}
		if id == "" && fs.NArg() == 1 {
			id = fs.Arg(0)
		}
		if id == "" {
			return fmt.Errorf("case show: which case? (parley case show ID)")
		}
		ops, done, err := admin(&cf)
		if err != nil {
			return err
		}
		defer done()
		if args[0] == "verify" {
			v, err := ops.Verify(id)
			if err != nil {
				return err
			}
			if *asJSON {
				printJSON(v)
			}
			if !v.OK {
				return fmt.Errorf("case %s: record altered at event %d: %s", v.Case, v.BadSeq, v.Reason)
			}
			if !*asJSON {
				fmt.Printf("case %s: %d events, chain intact; head %s\n", v.Case, v.Events, v.Head)
				if v.ClosedSeq != 0 {
					fmt.Printf("closed at event %d; fingerprint %s: the parties' closing notices carry the same\n", v.ClosedSeq, v.ClosedHash)
				}
			}
			return nil
		}
		d, err := ops.Case(id)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(d)
		}
		printCase(d)
		return nil
	}
	return usageError{}
}

// listCmd is every "parley X list": --data/--config/--json, the data folder
// (socket or file), then JSON (an empty list is []) or a table.
func listCmd[T any](args []string, name string, fetch func(control.Interface) ([]T, error), header string, row func(T) []any) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	var cf commonFlags
	cf.register(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return usageError{}
	}
	ops, done, err := admin(&cf)
	if err != nil {
		return err
	}
	defer done()
	items, err := fetch(ops)
	if err != nil {
		return err
	}
	if *asJSON {
		if items == nil {
			items = []T{}
		}
		return printJSON(items)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, header)
	for _, it := range items {
		cells := row(it)
		for i, c := range cells {
			sep := "\t"
			if i == len(cells)-1 {
				sep = "\n"
			}
			fmt.Fprint(w, c, sep)
		}
	}
	return w.Flush()
}

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func printCase(d *control.CaseDetail) {
	const when = "2006-01-02 15:04:05 MST"
	fmt.Printf("Case %s  %s\n", d.ID, d.Title)
	state := d.State
	if d.Outcome != "" {
		state += " (" + d.Outcome + ")"
	}
	fmt.Printf("  state:     %s\n", state)
	fmt.Printf("  opened:    %s\n", d.Created.UTC().Format(when))
	if !d.Closed.IsZero() {
		fmt.Printf("  closed:    %s\n", d.Closed.UTC().Format(when))
	}
	for _, tm := range d.Timers {
		line := fmt.Sprintf("  clock:     %-16s %s", tm.Kind, tm.Due.UTC().Format(when))
		switch {
		case tm.Parked:
			line += fmt.Sprintf("  PARKED after %d failures (retried at the next start): %s", tm.Attempts, tm.LastError)
		case tm.Attempts > 0:
			line += fmt.Sprintf("  failed %d times, next attempt %s", tm.Attempts, tm.Retry.UTC().Format(when))
		}
		fmt.Println(line)
	}
	f := d.Fields
	for _, kv := range [][2]string{{"order date", f.OrderDate}, {"order", f.OrderRef}, {"wants", f.Wants}, {"contacted", f.Contacted}, {"complained", f.ComplainedOn}} {
		if kv[1] != "" {
			fmt.Printf("  %-10s %s\n", kv[0]+":", kv[1])
		}
	}
	if f.Amount > 0 {
		fmt.Printf("  amount:    %d.%02d %s\n", f.Amount/100, f.Amount%100, f.Currency)
	}
	fmt.Println("\nParties:")
	for _, p := range d.Parties {
		fmt.Printf("  %-9s %s <%s> lang=%s\n  %-9s case address: %s\n", p.Role, p.Name, p.Email, p.Lang, "", p.CaseAddress)
	}
	msgs := map[uint64]string{}
	for _, m := range d.Messages {
		line := fmt.Sprintf("from %s, %d bytes, %q", m.From, m.Size, m.Subject)
		if len(m.Flags) > 0 {
			line += " [" + strings.Join(m.Flags, ",") + "]"
		}
		msgs[m.ID] = line
	}
	outs := map[uint64]string{}
	for _, o := range d.Outbound {
		to := string(o.Role)
		if to == "" {
			to = "sender " + o.To
		}
		outs[o.ID] = fmt.Sprintf("%s to %s, now %s", o.Kind, to, o.State)
	}
	fmt.Println("\nTimeline:")
	for _, ev := range d.Events {
		line := fmt.Sprintf("  %3d %s  %-15s %-9s", ev.Seq, ev.Time.UTC().Format("2006-01-02 15:04:05"), ev.Kind, ev.Role)
		switch {
		case ev.Kind == "mail-in" || ev.Kind == "quarantine" || ev.Kind == "auto-reply":
			line += " msg " + fmt.Sprint(ev.Message) + ": " + msgs[ev.Message]
		case ev.Out != 0:
			line += " out " + fmt.Sprint(ev.Out) + ": " + outs[ev.Out]
		case ev.Message != 0:
			line += " msg " + fmt.Sprint(ev.Message)
		}
		if ev.Text != "" && ev.Kind != "mail-out" {
			line += "  " + ev.Text
		}
		fmt.Println(strings.TrimRight(line, " "))
	}
	if len(d.Evidence) > 0 {
		fmt.Println("\nEvidence:")
		for _, e := range d.Evidence {
			fwd := "kept"
			if e.Forwarded {
				fwd = "forwarded"
			}
			fmt.Printf("  %3d %-30s %-24s %9d  %s  %s, msg %d, %s\n", e.Seq, e.Name, e.Sniffed, e.Size, e.SHA256[:16], e.Role, e.Message, fwd)
		}
	}
}

func cmdMediator(args []string) error {
	if len(args) > 0 && args[0] == "list" {
		return listCmd(args[1:], "mediator list", (control.Interface).Mediators, "EMAIL\tNAME\tLANG",
			func(m casestore.Mediator) []any { return []any{m.Email, m.Name, m.Lang} })
	}
	if len(args) == 0 || args[0] != "add" {
		return usageError{}
	}
	fs := flag.NewFlagSet("mediator add", flag.ContinueOnError)
	var cf commonFlags
	cf.register(fs)
	var req control.MediatorAdd
	fs.StringVar(&req.Email, "email", "", "the mediator's own address (also the IMAP login)")
	fs.StringVar(&req.Name, "name", "", "the name parties see")
	fs.StringVar(&req.Lang, "lang", "en", "language of the mediator's notices")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{}
	}
	pw, err := readPassword()
	if err != nil {
		return err
	}
	req.Password = pw
	ops, done, err := admin(&cf)
	if err != nil {
		return err
	}
	defer done()
	m, err := ops.AddMediator(req)
	if err != nil {
		return err
	}
	fmt.Printf("mediator %s (%s) registered\n", m.Email, m.Name)
	return nil
}

// readPassword takes PARLEY_PASSWORD, else the first line of standard input.
func readPassword() (string, error) {
	if pw := os.Getenv("PARLEY_PASSWORD"); pw != "" {
		return pw, nil
	}
	line, err := bufio.NewReader(io.LimitReader(os.Stdin, 4096)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", fmt.Errorf("no password: set PARLEY_PASSWORD or pipe it on standard input")
	}
	return pw, nil
}

// cmdExport writes a case file: parley case export ID -o FILE.zip.
func cmdExport(args []string) error {
	fs := flag.NewFlagSet("case export", flag.ContinueOnError)
	var cf commonFlags
	cf.register(fs)
	out := fs.String("o", "", "the zip file to write")
	var id string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return usageError{}
	}
	if id == "" && fs.NArg() == 1 {
		id = fs.Arg(0)
	}
	if id == "" || *out == "" {
		return fmt.Errorf("case export: usage: parley case export ID -o FILE.zip")
	}
	ops, done, err := admin(&cf)
	if err != nil {
		return err
	}
	defer done()
	if err := writeFileAtomic(*out, func(f *os.File) error { return ops.Export(id, f) }); err != nil {
		return fmt.Errorf("case export: %w", err)
	}
	fmt.Printf("case %s exported to %s\n", threading.NormalizeCaseID(id), *out)
	return nil
}

// verifyExport checks a case file without the store.
func verifyExport(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("case verify-export: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	man, problems, err := casefile.Verify(f, st.Size())
	if err != nil {
		return fmt.Errorf("case verify-export %s: %w", path, err)
	}
	for _, p := range problems {
		fmt.Fprintln(os.Stderr, "MISMATCH", p.String())
	}
	if len(problems) > 0 {
		return fmt.Errorf("case file %s of case %s: %d problem(s), listed above", path, man.Case.ID, len(problems))
	}
	fmt.Printf("case file %s of case %s: %d files and %d events intact; head %s\n", path, man.Case.ID, len(man.Files), man.EventCount, man.EventHead)
	if c := man.Closing; c != nil {
		fmt.Printf("closed at event %d; fingerprint %s: the parties' closing notices carry the same\n", c.Seq, c.Hash)
	}
	fmt.Println("compare with `parley case verify` on the server: it prints the same head, or a later one for a case file exported before its case's last events")
	return nil
}

// listFlag collects a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// printTrader shows a trader's registration.
func printTrader(tr casestore.Trader) {
	fmt.Printf("Trader %s  %s  (language %s, since %s)\n", tr.Handle, tr.Name, tr.Lang, tr.Created.UTC().Format("2006-01-02"))
	fmt.Printf("  notices to: %s\n", tr.Email)
	for _, s := range tr.Staff {
		how := "copies in the cases it writes in"
		if s.CC {
			how = "copies of all mail"
		}
		fmt.Printf("  staff:      %s (%s)\n", s.Email, how)
	}
	for _, d := range tr.Domains {
		fmt.Printf("  domain:     any address at %s speaks for the shop\n", d)
	}
}

// parseFlags parses flags given before, between or after the positional
// arguments, and wants exactly n of those.
func parseFlags(fs *flag.FlagSet, args []string, n int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usageError{}
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != n {
		return nil, fmt.Errorf("%s: want %d argument(s), got %d: %s", fs.Name(), n, len(pos), strings.Join(pos, " "))
	}
	return pos, nil
}
