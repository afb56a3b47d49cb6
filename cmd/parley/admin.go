package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"parley/control"
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
		fs.StringVar(&req.Handle, "handle", "", "complaint address local part: HANDLE@DOMAIN")
		fs.StringVar(&req.Name, "name", "", "the shop's name as parties see it")
		fs.StringVar(&req.Email, "email", "", "the shop's own address, where notices go")
		fs.StringVar(&req.Lang, "lang", "en", "language of the trader's messages")
		if err := fs.Parse(args[1:]); err != nil {
			return usageError{}
		}
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
	case "list":
		asJSON := fs.Bool("json", false, "print JSON")
		if err := fs.Parse(args[1:]); err != nil {
			return usageError{}
		}
		ops, done, err := admin(&cf)
		if err != nil {
			return err
		}
		defer done()
		trs, err := ops.Traders()
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(trs)
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "HANDLE\tNAME\tEMAIL\tLANG")
		for _, t := range trs {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", t.Handle, t.Name, t.Email, t.Lang)
		}
		return w.Flush()
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
		if err := fs.Parse(args[1:]); err != nil {
			return usageError{}
		}
		ops, done, err := admin(&cf)
		if err != nil {
			return err
		}
		defer done()
		cases, err := ops.Cases()
		if err != nil {
			return err
		}
		if *asJSON {
			if cases == nil {
				cases = []control.CaseSummary{}
			}
			return printJSON(cases)
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "CASE\tOPENED\tSTATE\tTRADER\tCONSUMER\tMSGS\tTITLE")
		for _, c := range cases {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", c.ID, c.Created, c.State, c.Trader, c.Consumer, c.Messages, c.Title)
		}
		return w.Flush()
	case "show":
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

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printCase(d *control.CaseDetail) {
	fmt.Printf("Case %s  %s\n", d.ID, d.Title)
	fmt.Printf("  state:    %s", d.State)
	if d.Outcome != "" {
		fmt.Printf(" (%s)", d.Outcome)
	}
	fmt.Println()
	fmt.Printf("  opened:   %s\n", d.Created.UTC().Format("2006-01-02 15:04:05 MST"))
	if !d.Deadline.IsZero() {
		fmt.Printf("  deadline: %s\n", d.Deadline.UTC().Format("2006-01-02 15:04:05 MST"))
	}
	fmt.Println("\nParties:")
	for _, p := range d.Parties {
		fmt.Printf("  %-9s %s <%s> lang=%s\n            case address: %s\n", p.Role, p.Name, p.Email, p.Lang, p.CaseAddress)
	}
	msgs := map[uint64]string{}
	for _, m := range d.Messages {
		line := fmt.Sprintf("from %s, %d bytes, %q", m.From, m.Size, m.Subject)
		if len(m.Flags) > 0 {
			line += " [" + strings.Join(m.Flags, ",") + "]"
		}
		if m.Note != "" {
			line += " (" + m.Note + ")"
		}
		msgs[m.ID] = line
	}
	outs := map[uint64]string{}
	for _, o := range d.Outbound {
		outs[o.ID] = fmt.Sprintf("%s to %s, %s", o.Kind, o.Role, o.State)
	}
	fmt.Println("\nTimeline:")
	for _, ev := range d.Events {
		line := fmt.Sprintf("  %3d %s  %-15s %-8s", ev.Seq, ev.Time.UTC().Format("2006-01-02 15:04:05"), ev.Kind, ev.Role)
		switch {
		case ev.Message != 0:
			line += " msg " + fmt.Sprint(ev.Message) + ": " + msgs[ev.Message]
		case ev.Out != 0:
			line += " out " + fmt.Sprint(ev.Out) + ": " + outs[ev.Out]
		}
		if ev.Text != "" && ev.Kind != "mail-out" {
			line += "  " + ev.Text
		}
		fmt.Println(strings.TrimRight(line, " "))
	}
}
