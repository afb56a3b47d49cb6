package procedure

import (
	"bytes"
	"context"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jhillyerd/enmime/v2"

	"parley/casestore"
	"parley/config"
	"parley/locales"
	"parley/route"
	"parley/templates"
	"parley/threading"
)

type env struct {
	t      *testing.T
	store  *casestore.Store
	e      *Engine
	keys   *threading.Keys
	now    time.Time
	mu     sync.Mutex
	queued []uint64
}

func newEnv(t *testing.T) *env { t.Helper(); return newEnvWith(t, nil) }

// referralBody configures an arbitration body for a test.
func referralBody(p *config.Procedure) {
	p.ArbitrationBody, p.ArbitrationAddress, p.ArbitrationURL = "DigiDispuut", "claims@body.example", "https://body.example/claim"
}

// newEnvWith is newEnv with the [procedure] defaults changed by set.
func newEnvWith(t *testing.T, set func(*config.Procedure)) *env {
	t.Helper()
	return newEnvConfig(t, set, config.Evidence{})
}

// newEnvConfig is newEnvWith with evidence limits (zero: the defaults).
func newEnvConfig(t *testing.T, set func(*config.Procedure), evidence config.Evidence) *env {
	t.Helper()
	ev := &env{t: t, now: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
	var err error
	ev.store, err = casestore.Open(t.TempDir(), casestore.Options{Now: func() time.Time { return ev.now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ev.store.Close() })
	ev.keys, _ = threading.NewKeys('a', map[byte][]byte{'a': bytes.Repeat([]byte{7}, 32)})
	proc := config.Default().Procedure
	if set != nil {
		set(&proc)
	}
	loc, err := locales.New("en")
	if err != nil {
		t.Fatal(err)
	}
	if proc.ArbitrationKind == "binding_advice" {
		loc = loc.ForBindingAdvice()
	}
	tmpl, err := templates.New(loc)
	if err != nil {
		t.Fatal(err)
	}
	ev.e = NewEngine(ev.store, ev.keys, tmpl, loc, Config{Domain: "d.test", Procedure: proc, Evidence: evidence},
		slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)), func(ids ...uint64) { ev.mu.Lock(); ev.queued = append(ev.queued, ids...); ev.mu.Unlock() })
	ev.store.Update(func(tx *casestore.Tx) error {
		return tx.PutTrader(casestore.Trader{Handle: "acme", Name: "Acme Shop", Email: "support@acme.example", Lang: "nl"})
	})
	return ev
}

// deliver stores a message as smtpd does and runs its job.
func (ev *env) deliver(mailFrom string, target route.Target, raw string) *casestore.Message {
	ev.t.Helper()
	job := ev.queueMessage(mailFrom, target, raw)
	if err := ev.e.Process(context.Background(), job); err != nil {
		ev.t.Fatal(err)
	}
	var m *casestore.Message
	ev.store.View(func(tx *casestore.Tx) (err error) {
		if tx.JobExists(job.ID) {
			ev.t.Errorf("job %d still pending after processing", job.ID)
		}
		m, err = tx.Message(job.Message)
		return err
	})
	return m
}

// untranslated matches what locales.T prints for an unknown message id.
var untranslated = regexp.MustCompile(`\[[A-Z][A-Za-z]+(_[a-z-]+)?\]`)

type sent struct {
	o   casestore.Outbound
	env *enmime.Envelope
	raw string
}

// take returns the outbound messages queued since the last call.
func (ev *env) take() []sent {
	ev.t.Helper()
	var out []sent
	ev.mu.Lock()
	ids := ev.queued
	ev.queued = nil
	ev.mu.Unlock()
	for _, id := range ids {
		var o *casestore.Outbound
		ev.store.View(func(tx *casestore.Tx) (err error) { o, err = tx.Outbound(id); return err })
		raw, err := ev.store.Raw(o.SHA256)
		if err != nil {
			ev.t.Fatal(err)
		}
		e, err := enmime.ReadEnvelope(bytes.NewReader(raw))
		if err != nil {
			ev.t.Fatal(err)
		}
		// No mail may show a template's gaps or a message id nobody translated.
		if strings.Contains(e.Text, "<no value>") || untranslated.MatchString(e.Text) {
			ev.t.Errorf("%s to %s has a gap or an untranslated id:\n%s", o.Kind, o.Role, e.Text)
		}
		out = append(out, sent{o: *o, env: e, raw: string(raw)})
	}
	return out
}

func (ev *env) onlyCase() *casestore.Case {
	ev.t.Helper()
	var cs []casestore.Case
	ev.store.View(func(tx *casestore.Tx) (err error) { cs, err = tx.Cases(); return err })
	if len(cs) != 1 {
		ev.t.Fatalf("%d cases, want 1", len(cs))
	}
	return &cs[0]
}

const complaint = `From: Jan Jansen <jan@consumer.example>
To: acme@d.test
Subject: Broken kettle
Message-ID: <c1@consumer.example>
Content-Type: text/plain; charset=utf-8

I ordered a kettle (order 1234) and it arrived broken. The shop does not answer my emails and I want my money back.
`

func TestComplaintToTraderHandle(t *testing.T) {
	ev := newEnv(t)
	ev.deliver("jan@consumer.example", route.Intake("acme"), complaint)
	c := ev.onlyCase()
	if c.State != casestore.StateOpen || c.Trader.Email != "support@acme.example" || c.Consumer.Lang != "en" || c.Trader.Lang != "nl" {
		t.Fatalf("case: %+v", c)
	}
	if !c.Deadline.Equal(ev.now.Add(7*24*time.Hour)) || len(c.Timers) != 2 {
		t.Errorf("deadline %v, timers %+v", c.Deadline, c.Timers)
	}
	out := ev.take()
	if len(out) != 2 {
		t.Fatalf("%d messages sent, want confirmation and notice", len(out))
	}
	confirm, notice := out[0], out[1]
	if confirm.o.To != "jan@consumer.example" || notice.o.To != "support@acme.example" {
		t.Fatalf("recipients %s, %s", confirm.o.To, notice.o.To)
	}
	consumerAddr := ev.keys.PartyLocal(c.ID, route.Consumer) + "@d.test"
	traderAddr := ev.keys.PartyLocal(c.ID, route.Trader) + "@d.test"
	checks := []struct{ got, want string }{
		{confirm.env.GetHeader("From"), `"Parley [` + c.ID + `]" <` + consumerAddr + ">"},
		{confirm.env.GetHeader("Reply-To"), "<" + consumerAddr + ">"},
		{notice.env.GetHeader("Reply-To"), "<" + traderAddr + ">"},
		{notice.env.GetHeader("From"), `"Parley [` + c.ID + `]" <` + traderAddr + ">"},
		{confirm.env.GetHeader("Auto-Submitted"), "auto-generated"},
		{notice.env.GetHeader("Content-Language"), "nl"},
		{confirm.env.GetHeader("Subject"), "Re: [" + c.ID + "] Broken kettle"},
		{confirm.env.GetHeader("In-Reply-To"), "<c1@consumer.example>"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("header %q, want %q", ch.got, ch.want)
		}
	}
	if !strings.Contains(notice.env.Text, "order 1234") || !strings.Contains(notice.env.Text, c.ID) {
		t.Errorf("notice lacks the complaint:\n%s", notice.env.Text)
	}
	if strings.Contains(notice.raw, "jan@consumer.example") {
		t.Error("the trader's notice shows the consumer's real address")
	}
	if !strings.HasPrefix(confirm.o.MailFrom, "b.") {
		t.Errorf("envelope sender %q is not a VERP address", confirm.o.MailFrom)
	}
	if tok, err := ev.keys.Parse(strings.TrimSuffix(confirm.o.MailFrom, "@d.test")); err != nil || tok.Outbound != confirm.o.ID {
		t.Errorf("VERP address does not name its row: %+v %v", tok, err)
	}
}

func TestGenericIntakeWithTraderLine(t *testing.T) {
	for _, tc := range []struct{ name, line, wantEmail, wantLang string }{
		{"registered", "Trader: support@acme.example", "support@acme.example", "nl"},
		{"unregistered", "Winkel: Bakker B.V. <info@bakker.example>", "info@bakker.example", "en"},
		{"german label", "Händler: shop@laden.example", "shop@laden.example", "en"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := newEnv(t)
			ev.deliver("jan@consumer.example", route.Complaints(), strings.Replace(complaint, "\n\nI ordered", "\n\n"+tc.line+"\nI ordered", 1))
			c := ev.onlyCase()
			if c.State != casestore.StateOpen || c.Trader.Email != tc.wantEmail || c.Trader.Lang != tc.wantLang {
				t.Fatalf("case %+v", c)
			}
			if out := ev.take(); len(out) != 2 || out[1].o.To != tc.wantEmail {
				t.Fatalf("sent %d", len(out))
			}
		})
	}
}

func TestIncompleteIntakeThenCompleted(t *testing.T) {
	ev := newEnv(t)
	ev.deliver("jan@consumer.example", route.Complaints(), complaint)
	c := ev.onlyCase()
	if c.State != casestore.StateIntake {
		t.Fatalf("state %s", c.State)
	}
	out := ev.take()
	if len(out) != 1 || out[0].o.Kind != templates.NeedInfo || !strings.Contains(out[0].env.Text, "Trader:    (the shop's email address)") {
		t.Fatalf("want one need_info notice asking for the trader, got %d", len(out))
	}
	reply := "From: jan@consumer.example\nSubject: Re: [" + c.ID + "] Broken kettle\nIn-Reply-To: " + out[0].o.MessageID +
		"\n\nHandelaar: support@acme.example\n\nOn Mon, 2 Nov 2026, Parley wrote:\n> which shop?\n"
	ev.deliver("jan@consumer.example", route.Party(c.ID, route.Consumer), reply)
	c = ev.onlyCase()
	if c.State != casestore.StateOpen || c.Trader.Handle != "acme" {
		t.Fatalf("case after completion: %+v", c)
	}
	out = ev.take()
	if len(out) != 2 || out[1].o.To != "support@acme.example" || !strings.Contains(out[1].env.Text, "order 1234") {
		t.Fatalf("trader must get the original complaint once complete: %d sent", len(out))
	}
	if out[0].env.GetHeader("In-Reply-To") == "" {
		t.Error("the confirmation after completion is not threaded on the first notice")
	}
}

func openCase(t *testing.T, ev *env) *casestore.Case {
	ev.deliver("jan@consumer.example", route.Intake("acme"), complaint)
	ev.take()
	return ev.onlyCase()
}

func TestRelaysBothWaysThreaded(t *testing.T) {
	ev := newEnv(t)
	c := openCase(t, ev)
	ev.deliver("support@acme.example", route.Party(c.ID, route.Trader),
		"From: Acme <Support@Acme.example>\nSubject: Re: [x] y\n\nWe send a new one.\n\nOn Mon, 2 Nov 2026 at 09:00, Jan via Parley <a@d.test> wrote:\n> I ordered a kettle\n")
	out := ev.take()
	if len(out) != 1 || out[0].o.To != "jan@consumer.example" {
		t.Fatalf("relay: %d", len(out))
	}
	r := out[0]
	if !strings.Contains(r.env.Text, "We send a new one.") || strings.Contains(r.env.Text, "I ordered a kettle") {
		t.Errorf("relay text:\n%s", r.env.Text)
	}
	if r.env.GetHeader("Auto-Submitted") != "" {
		t.Error("a relay of a person's words is not auto-generated")
	}
	if !strings.HasPrefix(r.env.GetHeader("Subject"), "Re: ["+c.ID+"]") || r.env.GetHeader("In-Reply-To") == "" {
		t.Errorf("relay not threaded: %q %q", r.env.GetHeader("Subject"), r.env.GetHeader("In-Reply-To"))
	}
	ev.deliver("jan@consumer.example", route.Party(c.ID, route.Consumer),
		"From: jan@consumer.example\nSubject: Re\nContent-Type: multipart/mixed; boundary=XX\n\n--XX\nContent-Type: text/plain\n\nThank you, here is the photo.\n--XX\nContent-Type: image/png\nContent-Disposition: attachment; filename=\"../../photo.png\"\nContent-Transfer-Encoding: base64\n\niVBORw0KGgo=\n--XX--\n")
	out = ev.take()
	if len(out) != 1 || out[0].o.To != "support@acme.example" {
		t.Fatalf("relay to trader: %d", len(out))
	}
	if len(out[0].env.Attachments) != 1 || out[0].env.Attachments[0].FileName != "photo.png" {
		t.Fatalf("attachment not forwarded with a safe name: %+v", out[0].env.Attachments)
	}
	if refs := out[0].env.GetHeader("References"); strings.Count(refs, "<") < 1 {
		t.Errorf("References %q", refs)
	}
}

func TestQuarantineAndAutoReplies(t *testing.T) {
	ev := newEnv(t)
	c := openCase(t, ev)
	target := route.Party(c.ID, route.Trader)
	m := ev.deliver("intruder@evil.example", target, "From: intruder@evil.example\nSubject: hi\n\nPay to this account instead.\n")
	if !m.HasFlag(casestore.FlagQuarantined) {
		t.Fatalf("flags %v", m.Flags)
	}
	out := ev.take()
	if len(out) != 1 || out[0].o.To != "intruder@evil.example" || out[0].o.Kind != templates.Quarantine {
		t.Fatalf("quarantine notice: %+v", out)
	}
	if subj := out[0].env.GetHeader("Subject"); strings.Contains(subj, c.Title) {
		t.Errorf("a stranger learns the case title: %q", subj)
	}
	ev.deliver("intruder@evil.example", target, "From: intruder@evil.example\nSubject: hi again\n\nPay now.\n")
	if out := ev.take(); len(out) != 0 {
		t.Fatalf("a second quarantine notice the same day: %d", len(out))
	}
	// Forged From with the right envelope: still quarantined by header From.
	m = ev.deliver("support@acme.example", target, "From: someone@else.example\nSubject: hi\n\nx\n")
	if !m.HasFlag(casestore.FlagQuarantined) {
		t.Fatal("header From decides the party")
	}
	ev.take()
	autos := map[string]string{
		"auto-submitted":  "Auto-Submitted: auto-replied\n",
		"precedence bulk": "Precedence: bulk\n",
		"precedence list": "Precedence: list\n",
		"x-autoreply":     "X-Autoreply: yes\n",
		"x-auto-response": "X-Auto-Response-Suppress: All\n",
		"ooo subject":     "",
	}
	for name, hdr := range autos {
		subject := "Re: case"
		if name == "ooo subject" {
			subject = "Automatic reply: case"
		}
		m := ev.deliver("support@acme.example", target, "From: support@acme.example\n"+hdr+"Subject: "+subject+"\n\nI am away.\n")
		if !m.HasFlag(casestore.FlagAutoReply) {
			t.Errorf("%s: not recognised as automatic", name)
		}
		if out := ev.take(); len(out) != 0 {
			t.Errorf("%s: %d messages sent for an auto-reply", name, len(out))
		}
	}
	// Empty return path: kept, not relayed, not answered.
	m = ev.deliver("", target, "From: support@acme.example\nSubject: Re\n\nhello\n")
	if !m.HasFlag(casestore.FlagAutoReply) || len(ev.take()) != 0 {
		t.Error("mail with an empty return path must not be relayed or answered")
	}
	// An intruder's auto-reply is quarantined but never answered (no loop).
	ev.deliver("bot@evil.example", target, "From: bot@evil.example\nAuto-Submitted: auto-replied\nSubject: x\n\nx\n")
	if out := ev.take(); len(out) != 0 {
		t.Error("quarantine notice sent to an autoresponder")
	}
	// Automatic mail to the complaint address opens no case.
	ev.deliver("noreply@shop.example", route.Complaints(), "From: noreply@shop.example\nAuto-Submitted: auto-generated\nSubject: Your order\n\nThanks\n")
	ev.onlyCase()
}

func TestBounceMarksOutboundFailed(t *testing.T) {
	ev := newEnv(t)
	ev.deliver("jan@consumer.example", route.Intake("acme"), complaint)
	out := ev.take()
	ev.deliver("", route.Bounce(out[1].o.ID), "From: MAILER-DAEMON@acme.example\nSubject: Undelivered Mail Returned to Sender\n\nUser unknown\n")
	var o *casestore.Outbound
	ev.store.View(func(tx *casestore.Tx) (err error) { o, err = tx.Outbound(out[1].o.ID); return err })
	if o.State != casestore.OutFailed {
		t.Fatalf("outbound state %s", o.State)
	}
	var evs []casestore.Event
	ev.store.View(func(tx *casestore.Tx) (err error) { evs, err = tx.Events(out[1].o.CaseID); return err })
	if last := evs[len(evs)-1]; last.Kind != casestore.EvBounce || last.Role != "trader" {
		t.Fatalf("last event %+v", last)
	}
}

func TestMalformedMessageKeptAndRelayed(t *testing.T) {
	ev := newEnv(t)
	c := openCase(t, ev)
	m := ev.deliver("support@acme.example", route.Party(c.ID, route.Trader),
		"From: support@acme.example\nSubject: broken\nContent-Type: multipart/mixed; boundary=\"never\"\n\nWe will refund you.\n")
	if m.Processed != true {
		t.Fatal("malformed message not processed")
	}
	out := ev.take()
	if len(out) != 1 || !strings.Contains(out[0].env.Text, "refund") {
		t.Fatalf("malformed message text not relayed: %d", len(out))
	}
	if !m.HasFlag(casestore.FlagMalformed) || m.Note == "" {
		t.Errorf("malformed message not flagged: %v %q", m.Flags, m.Note)
	}
}

// when is t as an English reader of the tests' mails sees it.
func (ev *env) when(t time.Time) string { return ev.e.loc.FormatTime("en", t, false) }

// whenIn is t as a reader of lang sees it.
func (ev *env) whenIn(lang string, t time.Time) string { return ev.e.loc.FormatTime(lang, t, false) }

// eur is an amount as an English reader sees it.
func (ev *env) eur(cents int64) string { return ev.e.loc.FormatMoney("en", cents, "EUR") }
