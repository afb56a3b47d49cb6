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

	"golang.org/x/term"
)

func cmdTrader(args []string) error {
	return dispatch("trader", args, []command{
		{"add", traderAdd},
		{"show", func(args []string) error {
			return showCmd(args, "trader show", "HANDLE", (control.Interface).Trader, printTrader)
		}},
		{"address", func(args []string) error {
			return dispatch("trader address", args, []command{
				{"add", traderChange("address add", "EMAIL")},
				{"remove", traderChange("address remove", "EMAIL")},
			})
		}},
		{"domain", func(args []string) error {
			return dispatch("trader domain", args, []command{
				{"add", traderChange("domain add", "DOMAIN")},
				{"remove", traderChange("domain remove", "DOMAIN")},
			})
		}},
		{"list", func(args []string) error {
			return listCmd(args, "trader list", (control.Interface).Traders, "HANDLE\tNAME\tEMAIL\tLANG",
				func(t casestore.Trader) []any { return []any{t.Handle, t.Name, t.Email, t.Lang} })
		}},
	})
}

// adminCmd is a command on the data folder: its flags (--config and --data
// besides those fs has), then the operations; done releases them.
func adminCmd(fs *flag.FlagSet, args []string, positional ...string) (pos []string, ops control.Interface, done func(), err error) {
	var cf commonFlags
	cf.register(fs)
	if pos, err = parseArgs(fs, args, positional...); err != nil {
		return nil, nil, nil, err
	}
	ops, done, err = admin(&cf)
	return pos, ops, done, err
}

func traderAdd(args []string) error {
	fs := flag.NewFlagSet("trader add", flag.ContinueOnError)
	var req control.TraderAdd
	var emails, cc, domains listFlag
	fs.StringVar(&req.Handle, "handle", "", "complaint address local part: HANDLE@DOMAIN")
	fs.StringVar(&req.Name, "name", "", "the shop's name as parties see it")
	fs.Var(&emails, "email", "the shop's address; the first gets its notices, more speak for it too (repeatable)")
	fs.Var(&cc, "cc", "a staff address that gets a copy of all the shop's mail (repeatable)")
	fs.Var(&domains, "domain", "any address at this domain speaks for the shop (repeatable)")
	fs.StringVar(&req.Lang, "lang", "en", "language of the trader's messages")
	_, ops, done, err := adminCmd(fs, args)
	if err != nil {
		return err
	}
	defer done()
	if len(emails) == 0 {
		return fmt.Errorf("trader add: --email is required")
	}
	req.Email, req.Staff, req.CC, req.Domains = emails[0], emails[1:], cc, domains
	tr, err := ops.AddTrader(req)
	if err != nil {
		return err
	}
	fmt.Printf("trader %s (%s, %s, %s) registered\n", tr.Handle, tr.Name, tr.Email, tr.Lang)
	return nil
}

// showCmd is every "parley X show NAME": the one item NAME names, as JSON
// or printed for people.
func showCmd[T any](args []string, name, arg string, fetch func(control.Interface, string) (T, error), print func(T)) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, ops, done, err := adminCmd(fs, args, arg)
	if err != nil {
		return err
	}
	defer done()
	item, err := fetch(ops, pos[0])
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(item)
	}
	print(item)
	return nil
}

// traderChange is trader address add|remove HANDLE EMAIL [--cc] and trader
// domain add|remove HANDLE DOMAIN.
func traderChange(what, arg string) func([]string) error {
	return func(args []string) error {
		fs := flag.NewFlagSet("trader "+what, flag.ContinueOnError)
		ccFlag := false
		if what == "address add" {
			fs.BoolVar(&ccFlag, "cc", false, "the address gets a copy of all the shop's mail, not only in cases it wrote in")
		}
		pos, ops, done, err := adminCmd(fs, args, "HANDLE", arg)
		if err != nil {
			return err
		}
		defer done()
		req := control.TraderChange{Handle: pos[0], CC: ccFlag}
		switch what {
		case "address add":
			req.AddEmail = pos[1]
		case "address remove":
			req.RemoveEmail = pos[1]
		case "domain add":
			req.AddDomain = pos[1]
		case "domain remove":
			req.RemoveDomain = pos[1]
		}
		tr, err := ops.ChangeTrader(req)
		if err != nil {
			return err
		}
		printTrader(tr)
		return nil
	}
}

func cmdCase(args []string) error {
	return dispatch("case", args, []command{
		{"list", caseList},
		{"show", func(args []string) error {
			return showCmd(args, "case show", "ID", (control.Interface).Case, printCase)
		}},
		{"verify", caseVerify},
		{"export", cmdExport},
		{"verify-export", func(args []string) error {
			pos, err := parseArgs(flag.NewFlagSet("case verify-export", flag.ContinueOnError), args, "FILE.zip")
			if err != nil {
				return err
			}
			return verifyExport(pos[0])
		}},
	})
}

// caseList prints a page of cases, newest first: --limit of them (50),
// after the case --after names, or every case with --all.
func caseList(args []string) error {
	fs := flag.NewFlagSet("case list", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON (the page's cases and whether more follow)")
	limit := fs.Int("limit", 50, "cases per page (at most 10000)")
	after := fs.String("after", "", "start after this case (the last ID of the page before)")
	all := fs.Bool("all", false, "every case, page after page")
	_, ops, done, err := adminCmd(fs, args)
	if err != nil {
		return err
	}
	defer done()
	if *limit <= 0 || *limit > casestore.MaxCasePage {
		return usageError{fmt.Sprintf("case list: --limit %d: want 1 to %d", *limit, casestore.MaxCasePage)}
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	if !*asJSON {
		fmt.Fprintln(w, "CASE\tOPENED\tSTATE\tTRADER\tCONSUMER\tMSGS\tTITLE")
	}
	var whole control.CasePage // --json --all: one document
	for {
		page, err := ops.Cases(*limit, *after)
		if err != nil {
			return err
		}
		if *asJSON {
			whole.Cases, whole.More = append(whole.Cases, page.Cases...), page.More
		} else {
			for _, c := range page.Cases {
				state := c.State
				if c.Outcome != "" {
					state += "/" + c.Outcome
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", c.ID, c.Created.Format("2006-01-02 15:04"), state, c.Trader, c.Consumer, c.Messages, c.Title)
			}
		}
		if !page.More || len(page.Cases) == 0 {
			break
		}
		*after = page.Cases[len(page.Cases)-1].ID
		if !*all {
			if !*asJSON {
				w.Flush()
				fmt.Fprintf(os.Stderr, "(more: parley case list --after %s)\n", *after)
			}
			break
		}
	}
	if *asJSON {
		if whole.Cases == nil {
			whole.Cases = []control.CaseSummary{}
		}
		return printJSON(whole)
	}
	return w.Flush()
}

func caseVerify(args []string) error {
	fs := flag.NewFlagSet("case verify", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, ops, done, err := adminCmd(fs, args, "ID")
	if err != nil {
		return err
	}
	defer done()
	v, err := ops.Verify(pos[0])
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

// listCmd is every "parley X list": --data/--config/--json, the data folder
// (socket or file), then JSON (an empty list is []) or a table.
func listCmd[T any](args []string, name string, fetch func(control.Interface) ([]T, error), header string, row func(T) []any) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	_, ops, done, err := adminCmd(fs, args)
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
		if m.TLS {
			line += fmt.Sprintf(", %s %s", m.TLSVersion, m.TLSCipher)
		}
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
	return dispatch("mediator", args, []command{
		{"add", mediatorAdd},
		{"list", func(args []string) error {
			return listCmd(args, "mediator list", (control.Interface).Mediators, "EMAIL\tNAME\tLANG",
				func(m casestore.Mediator) []any { return []any{m.Email, m.Name, m.Lang} })
		}},
	})
}

func mediatorAdd(args []string) error {
	fs := flag.NewFlagSet("mediator add", flag.ContinueOnError)
	var req control.MediatorAdd
	fs.StringVar(&req.Email, "email", "", "the mediator's own address (also the IMAP login)")
	fs.StringVar(&req.Name, "name", "", "the name parties see")
	fs.StringVar(&req.Lang, "lang", "en", "language of the mediator's notices")
	_, ops, done, err := adminCmd(fs, args)
	if err != nil {
		return err
	}
	defer done()
	if req.Password, err = readPassword(req.Email); err != nil {
		return err
	}
	m, err := ops.AddMediator(req)
	if err != nil {
		return err
	}
	fmt.Printf("mediator %s (%s) registered\n", m.Email, m.Name)
	return nil
}

// readPassword takes PARLEY_PASSWORD; else, on a terminal, asks twice
// without echo; else reads the first line of standard input.
func readPassword(email string) (string, error) {
	if pw := os.Getenv("PARLEY_PASSWORD"); pw != "" {
		return pw, nil
	}
	if fd := int(os.Stdin.Fd()); term.IsTerminal(fd) {
		ask := func(prompt string) (string, error) {
			fmt.Fprint(os.Stderr, prompt)
			pw, err := term.ReadPassword(fd)
			fmt.Fprintln(os.Stderr)
			if err != nil {
				return "", fmt.Errorf("read password: %w", err)
			}
			return string(pw), nil
		}
		pw, err := ask("Password for " + email + ": ")
		if err != nil {
			return "", err
		}
		if pw == "" {
			return "", fmt.Errorf("no password given")
		}
		again, err := ask("The same again: ")
		if err != nil {
			return "", err
		}
		if again != pw {
			return "", fmt.Errorf("the two passwords differ; nothing changed")
		}
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
	out := fs.String("o", "", "the zip file to write (required)")
	pos, ops, done, err := adminCmd(fs, args, "ID")
	if err != nil {
		return err
	}
	defer done()
	if *out == "" {
		return usageError{"case export: which file? (usage: parley case export ID -o FILE.zip)"}
	}
	id := pos[0]
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
