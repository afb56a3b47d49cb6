package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
)

// row is one line of the table: a figure, how to print it, and whether
// issue 13's 20 % bound applies to it.
type row struct {
	name    string
	value   func(*figures) float64
	unit    string
	bounded bool
}

var rows = []row{
	{"generate", func(f *figures) float64 { return f.GenerateS }, "s", false},
	{"start to SMTP greeting", func(f *figures) float64 { return f.StartS }, "s", true},
	{"start, IMAP on", func(f *figures) float64 { return f.StartIMAPS }, "s", true},
	{"IMAP login + first LIST", func(f *figures) float64 { return f.IMAPFirstS }, "s", true},
	{"IMAP LIST Cases/*", func(f *figures) float64 { return f.IMAPList }, "ms", true},
	{"IMAP SELECT open case", func(f *figures) float64 { return f.IMAPSelect }, "ms", true},
	{"  the first after the start", func(f *figures) float64 { return f.IMAPSelectFirst }, "ms", true},
	{"case list (newest 50)", func(f *figures) float64 { return f.ListFirst }, "ms", true},
	{"case list --after (90 % down)", func(f *figures) float64 { return f.ListDeep }, "ms", true},
	{"case show", func(f *figures) float64 { return f.Show }, "ms", true},
	{"  the same over the socket: list", func(f *figures) float64 { return f.SockList }, "ms", true},
	{"  list --after", func(f *figures) float64 { return f.SockDeep }, "ms", true},
	{"  show", func(f *figures) float64 { return f.SockShow }, "ms", true},
	{"retention sweep", func(f *figures) float64 { return f.SweepS }, "s", true},
	{"  its commits", func(f *figures) float64 { return f.SweepCommits }, "", false},
	{"  page writes a commit", func(f *figures) float64 { return f.SweepWrites }, "", false},
	{"  the writer's time in them", func(f *figures) float64 { return f.SweepBusyS }, "s", false},
	{"  writing and fsync a page", func(f *figures) float64 { return f.SweepPageUs }, "µs", false},
	{"ingest accepted", func(f *figures) float64 { return f.Ingest }, "msg/s", true},
	{"ingest relayed", func(f *figures) float64 { return f.Relayed }, "msg/s", true},
	{"VmRSS after IMAP", func(f *figures) float64 { return f.RSSIMAP }, "MiB", true},
	{"  of it RssAnon", func(f *figures) float64 { return f.AnonIMAP }, "MiB", true},
	{"VmRSS at start", func(f *figures) float64 { return f.RSSStart }, "MiB", true},
	{"VmRSS idle after list/show", func(f *figures) float64 { return f.RSSIdle }, "MiB", true},
	{"  of it RssAnon ", func(f *figures) float64 { return f.AnonIdle }, "MiB", true},
	{"VmHWM after list/show", func(f *figures) float64 { return f.PeakRSS }, "MiB", true},
	{"VmHWM during ingest", func(f *figures) float64 { return f.IngestPeak }, "MiB", true},
	{"data file", func(f *figures) float64 { return f.FileMiB }, "MiB", false},
}

func writeTable(w io.Writer, f *figures) {
	fmt.Fprintf(w, "\n%d cases (%d closed, %d open); sweep of %d cases; IMAP LIST found %d case folders\n", f.Cases, f.Closed, f.Open, f.SweepN, f.IMAPListN)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, r := range rows {
		if v := r.value(f); v < 0 {
			fmt.Fprintf(tw, "%s\tnot within -imap-wait\t\t\n", r.name)
		} else {
			fmt.Fprintf(tw, "%s\t%.2f\t%s\t\n", r.name, v, r.unit)
		}
	}
	tw.Flush()
}

// writeRatios prints large/small for every figure, marking those of the
// 20 % bound that are outside it (for a rate, lower is worse).
func writeRatios(w io.Writer, small, large *figures) {
	fmt.Fprintf(w, "\n%d cases / %d cases\n", large.Cases, small.Cases)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, r := range rows {
		a, b := r.value(small), r.value(large)
		if a <= 0 || b < 0 {
			fmt.Fprintf(tw, "%s\t-\t\t\n", r.name)
			continue
		}
		ratio, mark := b/a, ""
		worse := ratio > 1.2
		if r.unit == "msg/s" {
			worse = ratio < 1/1.2
		}
		if r.bounded && worse {
			mark = "outside 20 %"
		}
		fmt.Fprintf(tw, "%s\t%.2fx\t%s\t\n", r.name, ratio, mark)
	}
	tw.Flush()
}

func writeJSON(w io.Writer, all []*figures) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(all)
}
