package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"parley/casestore"
	"parley/route"
)

// spec is the store to generate.
type spec struct {
	Closed, Open int
	Now          time.Time // the generator's clock: cases are laid out before it
	// Kept is how many of the newest closed cases at least are still within
	// the retention period, so each size has the same retention timers to
	// sweep (a few -reuse runs' worth), whatever its share of old cases.
	Kept int
}

// keptSpan is when the Kept newest closed cases were opened: in the 100 days
// before the open ones, so closed 20 to 60 days later they are all within
// the retention period.
const keptSpan = 100 * 24 * time.Hour

// Retention is the default retention period (config: procedure.retention,
// 183 days): a case closed longer ago than this has been purged.
const retention = 183 * 24 * time.Hour

// history is how far back the closed cases were opened.
const history = 2 * 365 * 24 * time.Hour

// generated names the cases the measurements use.
type generated struct {
	Cases    int
	Unpurged []string // closed cases still holding personal data, newest last
	Open     []string // open cases, oldest first
	Deep     string   // a case 90 % of the way down `case list`
	Took     time.Duration
}

// generatedFile keeps a generated in the work folder, for -reuse.
const generatedFile = "generated.json"

func (g *generated) save(work string) error {
	b, err := json.Marshal(g)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(work, generatedFile), b, 0o600)
}

// loadGenerated reads what an earlier run generated in work; nil if
// nothing. A store without the file is read for it.
func loadGenerated(work string) (*generated, error) {
	b, err := os.ReadFile(filepath.Join(work, generatedFile))
	if errors.Is(err, os.ErrNotExist) {
		if _, err := os.Stat(casestore.DBPath(filepath.Join(work, "data"))); err != nil {
			return nil, nil
		}
		return scanGenerated(filepath.Join(work, "data"))
	}
	if err != nil {
		return nil, err
	}
	var g generated
	if err := json.Unmarshal(b, &g); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(work, generatedFile), err)
	}
	return &g, nil
}

// batch is how many cases one transaction writes.
const batch = 5000

// idAlphabet is the alphabet of case ids (threading.NewCaseID).
const idAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// caseID is the n-th generated case id: n through an affine map modulo 32^7
// (a bijection, the multiplier being odd), spelled as threading spells ids,
// so ids look random, never repeat and are the same in every run.
func caseID(n int) string {
	x := (uint64(n)*0x5DEECE66D + 0xB) & (1<<35 - 1)
	var b [8]byte
	for i := 7; i >= 0; i-- {
		if i == 3 {
			b[i] = '-'
			continue
		}
		b[i] = idAlphabet[x&31]
		x >>= 5
	}
	return string(b[:])
}

// generate writes sp's cases into the store in the data folder dir, oldest
// first: closed cases opened over the two years before the open ones (those
// closed more than the retention period ago purged, as the daemon leaves
// them), then open ones over the last 60 days in every open state.
func generate(ctx context.Context, dir string, sp spec, logf func(string, ...any)) (*generated, error) {
	start := time.Now()
	s, err := casestore.Open(dir, casestore.Options{Now: func() time.Time { return sp.Now }})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	g := &generated{}
	total := sp.Closed + sp.Open
	openFrom := sp.Now.Add(-60 * 24 * time.Hour)
	deep := total - total*9/10
	kept := min(sp.Kept, sp.Closed)
	older := sp.Closed - kept // laid out over the history before keptSpan
	for lo := 0; lo < total; lo += batch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hi := min(lo+batch, total)
		var unpurged, open []string
		err := s.Update(func(tx *casestore.Tx) error {
			unpurged, open = nil, nil
			for n := lo; n < hi; n++ {
				var c *casestore.Case
				if n < sp.Closed {
					created := openFrom.Add(-history).Add(time.Duration(float64(history-keptSpan) * float64(n) / float64(max(older, 1))))
					if n >= older {
						created = openFrom.Add(-keptSpan).Add(time.Duration(float64(keptSpan) * float64(n-older) / float64(kept)))
					}
					c = newCase(caseID(n), created, n)
					if err := closedCase(tx, c, sp.Now, n); err != nil {
						return err
					}
					if !c.Purged {
						unpurged = append(unpurged, c.ID)
					}
				} else {
					k := n - sp.Closed
					created := openFrom.Add(time.Duration(float64(60*24*time.Hour) * float64(k) / float64(max(sp.Open, 1))))
					c = newCase(caseID(n), created, n)
					if err := openCase(tx, c, k); err != nil {
						return err
					}
					open = append(open, c.ID)
				}
				if err := tx.PutCase(c); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("generate cases %d to %d: %w", lo, hi, err)
		}
		g.Unpurged, g.Open = append(g.Unpurged, unpurged...), append(g.Open, open...)
		if deep >= lo && deep < hi {
			g.Deep = caseID(deep)
		}
		if hi%100000 < batch || hi == total {
			logf("generated %d of %d cases in %v", hi, total, time.Since(start).Round(time.Second))
		}
	}
	g.Cases, g.Took = total, time.Since(start)
	return g, nil
}

var (
	traders  = []string{"Acme Shop", "Kettle World", "Bikes & Parts", "Casa Móveis", "Nordlicht Versand", "Libros Ruiz", "Garden Hub"}
	problems = []string{"The parcel never arrived.", "The kettle leaks after two weeks.", "I cancelled within 14 days and got no refund.",
		"The sofa was delivered damaged.", "I was charged twice for one order."}
	langs = []string{"en", "de", "fr", "es", "nl", "it", "pt"}
)

// newCase is case n's row as intake leaves it: two parties, the complaint's fields.
func newCase(id string, created time.Time, n int) *casestore.Case {
	tr := traders[n%len(traders)]
	dom := strings.ToLower(strings.NewReplacer(" ", "", "&", "", "ó", "o").Replace(tr)) + ".example"
	return &casestore.Case{
		ID: id, Created: created, State: casestore.StateIntake,
		Title:    fmt.Sprintf("Order %d: %s", 100000+n, problems[n%len(problems)]),
		Intake:   "complaints@disputes.localhost",
		Consumer: casestore.Party{Role: route.Consumer, Name: fmt.Sprintf("Consumer %d", n), Email: fmt.Sprintf("c%d@consumer.example", n), Lang: langs[n%len(langs)]},
		Trader:   casestore.Party{Role: route.Trader, Name: tr, Email: "support@" + dom, Lang: langs[(n/7)%len(langs)]},
		Fields: casestore.Fields{OrderDate: created.AddDate(0, 0, -20).Format("2006-01-02"), OrderRef: fmt.Sprint(100000 + n),
			Amount: int64(1000 + n%90000), Currency: "EUR", Problem: problems[n%len(problems)], Wants: "refund", Contacted: "yes"},
	}
}

// mail adds an accepted message from role to c, with its raw content kept
// inline (unless purged: then only the row stays, as purge leaves it), and
// its mail-in event.
func mail(tx *casestore.Tx, c *casestore.Case, role route.Role, at time.Time, k int, purged bool) error {
	id, err := tx.NextMessageID()
	if err != nil {
		return err
	}
	p := c.PartyByRole(role)
	raw := fmt.Sprintf("From: %s <%s>\r\nTo: %s-%s@disputes.localhost\r\nSubject: Re: %s\r\nDate: %s\r\nMessage-ID: <m%d.%d@%s>\r\n\r\n%s\r\n%s\r\n",
		p.Name, p.Email, c.ID, role, c.Title, at.Format(time.RFC1123Z), id, k, "mail.example", problems[k%len(problems)],
		strings.Repeat("We kindly ask for an answer within the period the procedure gives.\r\n", 8))
	sum := sha256.Sum256([]byte(raw))
	m := &casestore.Message{ID: id, Received: at, RemoteAddr: "192.0.2.7:41234", Helo: "mail.example", MailFrom: p.Email,
		Rcpt: c.ID + "-" + string(role) + "@disputes.localhost", Target: route.Target{Kind: route.KindParty, Case: c.ID, Role: role},
		MessageID: fmt.Sprintf("<m%d.%d@mail.example>", id, k), Size: int64(len(raw)), SHA256: hex.EncodeToString(sum[:]),
		CaseID: c.ID, Role: role, From: p.Email, Subject: "Re: " + c.Title, Processed: true, Auth: "dmarc=pass spf=pass dkim=pass"}
	if purged {
		m.From, m.MailFrom, m.Rcpt, m.RemoteAddr, m.Helo, m.Subject, m.MessageID, m.SHA256 = "", "", "", "", "", "", "", ""
	} else {
		if err := tx.PutRawInline(m.SHA256, []byte(raw)); err != nil {
			return err
		}
		if _, err := tx.RefRaw(m.SHA256, 1); err != nil {
			return err
		}
		// As intake records it, for a redelivery; the purge deletes it.
		if err := tx.SetDedup(casestore.DedupKey(m.Target.String(), m.MessageID, m.SHA256), id); err != nil {
			return err
		}
	}
	if err := tx.PutMessage(m); err != nil {
		return err
	}
	return tx.AppendEvent(c, casestore.Event{Kind: casestore.EvMailIn, Time: at, Role: role, Message: id})
}

// move records a state change.
func move(tx *casestore.Tx, c *casestore.Case, state string, at time.Time) error {
	c.State = state
	c.Moves++
	return tx.AppendEvent(c, casestore.Event{Kind: casestore.EvStateChange, Time: at, Text: state})
}

// openCase fills an open case: the complaint, the trader's window, and by
// k a reply, a choice or mediation.
func openCase(tx *casestore.Tx, c *casestore.Case, k int) error {
	at := c.Created
	if err := tx.AppendEvent(c, casestore.Event{Kind: casestore.EvCaseOpened, Time: at, Role: route.Consumer}); err != nil {
		return err
	}
	if err := mail(tx, c, route.Consumer, at, k, false); err != nil {
		return err
	}
	states := []string{casestore.StateIntake, casestore.StateOpen, casestore.StateOpen, casestore.StateChoice, casestore.StateMediation}
	want := states[k%len(states)]
	if want == casestore.StateIntake {
		return tx.SetTimer(c, casestore.Timer{Kind: "intake-expired", Due: at.Add(90 * 24 * time.Hour)})
	}
	c.Completed = at
	if err := move(tx, c, casestore.StateOpen, at.Add(time.Minute)); err != nil {
		return err
	}
	if err := mail(tx, c, route.Trader, at.Add(26*time.Hour), k+1, false); err != nil {
		return err
	}
	if want == casestore.StateMediation {
		c.Mediator = casestore.Party{Role: route.Mediator, Name: "Mia", Email: "mia@mediators.example", Lang: "en"}
	}
	if want != casestore.StateOpen {
		if err := move(tx, c, want, at.Add(48*time.Hour)); err != nil {
			return err
		}
	}
	return tx.SetTimer(c, casestore.Timer{Kind: "window-end", Due: at.Add(90 * 24 * time.Hour)})
}

// closedCase fills a closed case: complaint, reply, mediation, closing; and
// the retention timer, or the purge if it is past.
func closedCase(tx *casestore.Tx, c *casestore.Case, now time.Time, n int) error {
	at := c.Created
	closed := at.Add(time.Duration(20+n%40) * 24 * time.Hour)
	purged := closed.Add(retention).Before(now)
	if err := tx.AppendEvent(c, casestore.Event{Kind: casestore.EvCaseOpened, Time: at, Role: route.Consumer}); err != nil {
		return err
	}
	c.Completed = at
	for i, step := range []struct {
		role  route.Role
		state string
	}{{route.Consumer, casestore.StateOpen}, {route.Trader, casestore.StateMediation}, {route.Consumer, ""}} {
		t := at.Add(time.Duration(i*3) * 24 * time.Hour)
		if err := mail(tx, c, step.role, t, n+i, purged); err != nil {
			return err
		}
		if step.state != "" {
			if err := move(tx, c, step.state, t.Add(time.Minute)); err != nil {
				return err
			}
		}
	}
	c.Mediator = casestore.Party{Role: route.Mediator, Name: "Mia", Email: "mia@mediators.example", Lang: "en"}
	c.Outcome, c.Closed = []string{"settled", "withdrawn", "no-agreement"}[n%3], closed
	if err := move(tx, c, casestore.StateClosed, closed); err != nil {
		return err
	}
	if err := tx.AppendEvent(c, casestore.Event{Kind: casestore.EvClosed, Time: closed, Text: c.Outcome}); err != nil {
		return err
	}
	if !purged {
		return tx.SetTimer(c, casestore.Timer{Kind: "retention", Due: closed.Add(retention)})
	}
	for _, p := range []*casestore.Party{&c.Consumer, &c.Trader, &c.Mediator} {
		p.Name, p.Email, p.Thread = "", "", nil
	}
	c.Title, c.Intake, c.Fields.Problem, c.Fields.OrderRef, c.Purged = "", "", "", "", true
	return tx.AppendEvent(c, casestore.Event{Kind: casestore.EvPurged, Time: closed.Add(retention)})
}

// scanGenerated finds in a generated store the cases the measurements use,
// reading it a page at a time from the newest case.
func scanGenerated(data string) (*generated, error) {
	s, err := casestore.Open(data, casestore.Options{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	g := &generated{}
	var ids []string
	after := ""
	for {
		var page []casestore.Case
		var more bool
		if err := s.View(func(tx *casestore.Tx) (err error) {
			page, more, err = tx.CasesPage(casestore.MaxCasePage, after)
			return err
		}); err != nil {
			return nil, err
		}
		for i := range page {
			c := &page[i]
			ids = append(ids, c.ID)
			switch {
			case c.Open():
				g.Open = append(g.Open, c.ID)
			case !c.Purged:
				g.Unpurged = append(g.Unpurged, c.ID)
			}
		}
		if !more || len(page) == 0 {
			break
		}
		after = page[len(page)-1].ID
	}
	slices.Reverse(g.Open)
	slices.Reverse(g.Unpurged)
	g.Cases = len(ids)
	if n := len(ids); n > 0 {
		g.Deep = ids[n-1-(n-n*9/10)] // as generate picks it: ids are newest first
	}
	return g, nil
}
