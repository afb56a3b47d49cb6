package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
)

// End-to-end runs of the dispute procedure (procedure/machine.go) through the
// built daemon: real SMTP in, real SMTP out to the sink, with the procedure's
// clocks configured in seconds. procedure/machine_test.go runs the same paths
// in process with a fake clock; here the daemon's own timer loop, its restart
// and its delivery queue take part.

const (
	mediatorEmail    = "mia@mediators.example"
	mediatorName     = "Mia"
	mediatorPassword = "mediator-password"
	complaintsAddr   = "complaints@" + domain
	// slack is what a clock-driven wait allows on top of the configured clock.
	slack = 15 * time.Second
)

// procDefaults are the [procedure] clocks of these tests (see config/sample.toml).
var procDefaults = map[string]string{
	"trader_window":     "3s",
	"trader_reminder":   "1s",
	"choice_window":     "3s",
	"mediation_reply":   "3s",
	"incomplete_intake": "3s",
	"retention":         "1h",
}

// procClocks is procDefaults with overrides given as key, value pairs.
func procClocks(overrides ...string) map[string]string {
	if len(overrides)%2 != 0 {
		panic("procClocks: overrides come in key, value pairs")
	}
	kv := map[string]string{}
	for k, v := range procDefaults {
		kv[k] = v
	}
	for i := 0; i < len(overrides); i += 2 {
		kv[overrides[i]] = overrides[i+1]
	}
	return kv
}

// procConfig renders clocks as a [procedure] table for the config file.
func procConfig(clocks map[string]string) string {
	keys := make([]string, 0, len(clocks))
	for k := range clocks {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("[procedure]\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s = %q\n", k, clocks[k])
	}
	return b.String()
}

// procEnv is a running installation for procedure tests: sink, daemon with
// the given [procedure] clocks, trader acme (English) and mediator Mia.
type procEnv struct {
	*env
	cfg map[string]string // the effective [procedure] clocks
}

func newProcEnv(t *testing.T, overrides ...string) *procEnv {
	t.Helper()
	cfg := procClocks(overrides...)
	s := newSink(t)
	s.Start()
	d := newDaemonWithConfig(t, s.addr, procConfig(cfg))
	d.Start()
	out := d.MustAdmin("trader", "add", "--handle", "acme", "--name", traderName, "--email", traderEmail, "--lang", "en")
	if !strings.Contains(string(out), "registered") {
		t.Fatalf("trader add: unexpected output %q", out)
	}
	out, err := d.AdminEnv([]string{"PARLEY_PASSWORD=" + mediatorPassword},
		"mediator", "add", "--email", mediatorEmail, "--name", mediatorName, "--lang", "en")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "registered") {
		t.Fatalf("mediator add: unexpected output %q", out)
	}
	return &procEnv{env: &env{t: t, sink: s, d: d}, cfg: cfg}
}

// clock is a configured clock of this installation, e.g. clock("trader_window").
func (e *procEnv) clock(key string) time.Duration {
	e.t.Helper()
	d, err := time.ParseDuration(e.cfg[key])
	if err != nil {
		e.t.Fatalf("clock %s = %q: %v", key, e.cfg[key], err)
	}
	return d
}

// send writes one message over SMTP: From header fromHdr, envelope sender
// mailFrom, to one recipient.
func (e *procEnv) send(fromHdr, mailFrom, to, subject, body string, extra ...header) {
	e.t.Helper()
	hs := append([]header{{"From", fromHdr}, {"To", "<" + to + ">"}, {"Subject", subject}}, extra...)
	if err := sendMail(e.d.smtpAddr, mailFrom, []string{to}, buildMessage(hs, body)); err != nil {
		e.t.Fatalf("send %q from %s to %s: %v", subject, mailFrom, to, err)
	}
}

// reply answers m from addr: to m's Reply-To, threaded on m.
func (e *procEnv) reply(name, addr string, m *sinkMsg, body string) {
	e.t.Helper()
	to := m.ReplyTo()
	if to == "" {
		e.t.Fatalf("cannot reply to %s: no Reply-To", m)
	}
	e.send(fmt.Sprintf("%s <%s>", name, addr), addr, to, "Re: "+m.Get("Subject"), body,
		header{"In-Reply-To", m.MessageID()}, header{"References", m.MessageID()}, header{"Content-Language", "en"})
}

// complain sends a complaint written in English to a complaint address and
// returns its unique marker (part of the text).
func (e *procEnv) complain(to, consumerName, consumerEmail, subject, body string) string {
	e.t.Helper()
	marker := "COMPLAINT-" + token()
	e.send(fmt.Sprintf("%s <%s>", consumerName, consumerEmail), consumerEmail, to, subject,
		strings.Replace(body, "MARKER", marker, 1), header{"Content-Language", "en"})
	return marker
}

// openCaseWith sends a complaint to acme's complaint address and waits for the
// trader notice and the consumer's confirmation.
func (e *procEnv) openCaseWith(consumerName, consumerEmail, body string) *openedCase {
	e.t.Helper()
	marker := e.complain(intakeAddr, consumerName, consumerEmail, "Broken kettle", body)
	notice := e.sink.WaitFor(20*time.Second, "trader notice", func(m *sinkMsg) bool {
		return m.To(traderEmail) && strings.Contains(m.Text, marker)
	})
	id := notice.CaseID()
	if id == "" {
		e.t.Fatalf("trader notice has no X-Parley-Case header:\n%s", notice.Raw)
	}
	confirm := e.sink.WaitFor(20*time.Second, "consumer confirmation", func(m *sinkMsg) bool {
		return m.To(consumerEmail) && m.CaseID() == id
	})
	oc := &openedCase{
		ID: id, ConsumerEmail: consumerEmail, Complaint: marker, Notice: notice, Confirm: confirm,
		TraderAddr: notice.ReplyTo(), ConsumerAddr: confirm.ReplyTo(),
	}
	if !strings.HasSuffix(oc.TraderAddr, "@"+domain) || !strings.HasSuffix(oc.ConsumerAddr, "@"+domain) {
		e.t.Fatalf("case addresses %q / %q are not at %s", oc.TraderAddr, oc.ConsumerAddr, domain)
	}
	return oc
}

// mailTo waits for a message of case id to addr whose text contains every one of texts.
func (e *procEnv) mailTo(timeout time.Duration, what, id, addr string, texts ...string) *sinkMsg {
	e.t.Helper()
	return e.sink.WaitFor(timeout, what, mailPred(id, addr, texts...))
}

func mailPred(id, addr string, texts ...string) func(*sinkMsg) bool {
	return func(m *sinkMsg) bool {
		if !m.To(addr) || m.CaseID() != id {
			return false
		}
		for _, s := range texts {
			if !strings.Contains(m.Text, s) {
				return false
			}
		}
		return true
	}
}

// choiceAddrs reads the mailto: lines of a choice or proposal mail, keyed by
// the choice each address stands for (CASEID.CHOICE.TAG@domain).
func choiceAddrs(text string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		addr, ok := strings.CutPrefix(line, "mailto:")
		if !ok {
			continue
		}
		local, _, _ := strings.Cut(addr, "@")
		if f := strings.Split(local, "."); len(f) == 3 {
			out[f[1]] = addr
		}
	}
	return out
}

// choiceAddr returns the address for choice in m, or fails the test.
func (e *procEnv) choiceAddr(m *sinkMsg, choice string) string {
	e.t.Helper()
	a := choiceAddrs(m.Text)[choice]
	if a == "" || !strings.HasSuffix(a, "@"+domain) {
		e.t.Fatalf("no mailto: line for %q in %s:\n%s", choice, m, m.Text)
	}
	return a
}

// isChoiceMail: the consumer's choice mail of case id (it offers mediation).
func isChoiceMail(id, consumer string) func(*sinkMsg) bool {
	return func(m *sinkMsg) bool {
		return m.To(consumer) && m.CaseID() == id && choiceAddrs(m.Text)["mediation"] != ""
	}
}

// closedText is the sentence every closing notice starts its outcome with.
func closedText(id string) string { return "Case " + id + " is closed. Outcome:" }

// settle waits until every outbound row of the case was delivered and returns that view.
func (e *procEnv) settle(id string) *caseDetail {
	e.t.Helper()
	return e.d.WaitCase(id, 20*time.Second, "every outbound row sent", func(c *caseDetail) bool {
		return len(c.Outbound) > 0 && allState(c, "sent")
	})
}

// kindsTo lists the template kinds of the case's messages the sink received
// for addr, in the order Parley wrote them (outbound row ids: deliveries run
// in parallel, so arrival order is not meaningful). A received message with
// no outbound row of the case shows as "?".
func (e *procEnv) kindsTo(c *caseDetail, addr string) string {
	rows := map[string]outboundJSON{}
	for _, o := range c.Outbound {
		rows[strings.Trim(o.MessageID, "<>")] = o
	}
	type got struct {
		id   uint64
		kind string
	}
	var gs []got
	for _, m := range e.sink.Matching(func(m *sinkMsg) bool { return m.To(addr) && m.CaseID() == c.ID }) {
		o, ok := rows[strings.Trim(m.MessageID(), "<>")]
		if !ok {
			gs = append(gs, got{^uint64(0), "?"})
			continue
		}
		gs = append(gs, got{o.ID, o.Kind})
	}
	sort.SliceStable(gs, func(i, j int) bool { return gs[i].id < gs[j].id })
	ks := make([]string, len(gs))
	for i, g := range gs {
		ks[i] = g.kind
	}
	return strings.Join(ks, " ")
}

// expectKinds checks the sequence of mail each address received in the case.
func (e *procEnv) expectKinds(c *caseDetail, want map[string]string) {
	e.t.Helper()
	for addr, w := range want {
		if got := e.kindsTo(c, addr); got != w {
			e.t.Errorf("mail to %s in case %s: got %q, want %q\nsink:\n%s", addr, c.ID, got, w, e.sink.Summary())
		}
	}
}

// expectEnd asserts the case's state and outcome from `case show --json` and
// that `case verify` exits 0.
func (e *procEnv) expectEnd(id, state, outcome string) *caseDetail {
	e.t.Helper()
	c := e.d.MustCase(id)
	if c.State != state || c.Outcome != outcome {
		e.t.Errorf("case %s: state %q outcome %q, want %q / %q; events:\n%s", id, c.State, c.Outcome, state, outcome, eventSummary(c))
	}
	out, err := e.d.Admin("case", "verify", id)
	if err != nil {
		e.t.Errorf("case verify %s: %v", id, err)
	} else if !strings.Contains(string(out), "chain intact") {
		e.t.Errorf("case verify %s: output %q", id, out)
	}
	return c
}

func eventSummary(c *caseDetail) string {
	var b strings.Builder
	for _, ev := range c.Events {
		fmt.Fprintf(&b, "  %3d %-14s %-8s %s\n", ev.Seq, ev.Kind, ev.Role, ev.Text)
	}
	return b.String()
}

func countEvents(c *caseDetail, kind, text string) int {
	n := 0
	for _, ev := range c.Events {
		if ev.Kind == kind && (text == "" || ev.Text == text) {
			n++
		}
	}
	return n
}

const plainComplaint = `Hello,

My kettle arrived broken and I want my money back. MARKER

Regards,
Jan
`

// eligibleComplaint is a complaint with every field arbitration needs: an
// order 30 days old, the trader contacted, a refund wanted, and amount (e.g.
// "49.95 EUR"; the default [procedure] range is 25.00 to 25000.00 EUR).
func eligibleComplaint(amount string) string {
	date := time.Now().AddDate(0, 0, -30).Format("2006-01-02")
	return "The kettle arrived broken and I want my money back. MARKER\n\n" +
		"Order date: " + date + "\n" +
		"Order number: A-1234\n" +
		"Amount: " + amount + "\n" +
		"Contacted the trader: yes\n"
}

// toMediation runs an open case through the trader's window (the reminder,
// then the choice mail) and the consumer's mediation choice by its address; it
// returns the mediator's briefing.
func (e *procEnv) toMediation(oc *openedCase) *sinkMsg {
	e.t.Helper()
	opened := e.d.MustCase(oc.ID)
	if opened.State != "open" || opened.Deadline.IsZero() {
		e.t.Fatalf("case %s: state %q deadline %v, want open with a deadline", oc.ID, opened.State, opened.Deadline)
	}
	window := e.clock("trader_window") + slack
	e.mailTo(window, "trader reminder", oc.ID, traderEmail, "Reminder:")
	choice := e.sink.WaitFor(window, "consumer's choice mail", isChoiceMail(oc.ID, oc.ConsumerEmail))
	e.mailTo(window, "trader's window-ended notice", oc.ID, traderEmail, "The period to answer the complaint in case "+oc.ID+" has ended")
	c := e.d.MustCase(oc.ID)
	if c.State != "choice" {
		e.t.Fatalf("state after the choice mail: %q, want choice", c.State)
	}
	// The clocks fired when they were due, not before: the reminder
	// trader_reminder ahead of the window's end, the choice at its end.
	remindAt := opened.Deadline.Add(-e.clock("trader_reminder"))
	for _, ev := range c.Events {
		switch {
		case ev.Kind == "deadline" && ev.Text == "reminder" && (ev.Time.Before(remindAt) || !ev.Time.Before(opened.Deadline)):
			e.t.Errorf("reminder fired at %s, want in [%s, %s)", ev.Time, remindAt, opened.Deadline)
		case ev.Kind == "deadline" && ev.Text == "window-end" && ev.Time.Before(opened.Deadline):
			e.t.Errorf("window ended at %s, before its deadline %s", ev.Time, opened.Deadline)
		}
	}
	if countEvents(c, "deadline", "reminder") != 1 || countEvents(c, "deadline", "window-end") != 1 {
		e.t.Errorf("want one reminder and one window-end deadline event:\n%s", eventSummary(c))
	}
	e.send("Jan Jansen <"+oc.ConsumerEmail+">", oc.ConsumerEmail, e.choiceAddr(choice, "mediation"), "mediation", "")
	briefing := e.mailTo(20*time.Second, "mediator's briefing", oc.ID, mediatorEmail, "You are the mediator of case "+oc.ID)
	e.mailTo(20*time.Second, "consumer's mediation notice", oc.ID, oc.ConsumerEmail, "is now in mediation")
	e.mailTo(20*time.Second, "trader's mediation notice", oc.ID, traderEmail, "The customer has asked for mediation")
	c = e.d.MustCase(oc.ID)
	if c.State != "mediation" || !strings.EqualFold(c.Mediator.Email, mediatorEmail) {
		e.t.Fatalf("after the mediation choice: state %q, mediator %q; want mediation with %s", c.State, c.Mediator.Email, mediatorEmail)
	}
	if want := c.Party("mediator").CaseAddress; want == "" || briefing.ReplyTo() != want {
		e.t.Fatalf("briefing Reply-To %q, want the case's mediator address %q", briefing.Get("Reply-To"), want)
	}
	return briefing
}

// mediatorSays mails the case's mediator address (the briefing's Reply-To) from Mia.
func (e *procEnv) mediatorSays(briefing *sinkMsg, body string) {
	e.t.Helper()
	e.reply(mediatorName, mediatorEmail, briefing, body)
}

// ---------------------------------------------------------------------------

// TestProcedureSettledDirectly: the trader answers within its window and the
// consumer replies RESOLVED: closed/resolved, both told.
func TestProcedureSettledDirectly(t *testing.T) {
	// A long window: the consumer's RESOLVED must land while the case is open.
	e := newProcEnv(t, "trader_window", "30s", "choice_window", "30s")
	const consumer = "jan@consumer.example"
	oc := e.openCaseWith("Jan Jansen", consumer, plainComplaint)

	answer := "ANSWER-" + token()
	e.reply(traderName, traderEmail, oc.Notice, "We are sorry. The refund is on its way. "+answer+"\n")
	relay := e.mailTo(20*time.Second, "relay of the trader's answer", oc.ID, consumer, answer)

	e.reply("Jan Jansen", consumer, relay, "RESOLVED\n\nThanks, the money arrived.\n")
	cn := e.mailTo(20*time.Second, "consumer's closing notice", oc.ID, consumer, closedText(oc.ID))
	tn := e.mailTo(20*time.Second, "trader's closing notice", oc.ID, traderEmail, closedText(oc.ID))
	for _, m := range []*sinkMsg{cn, tn} {
		if !strings.Contains(m.Text, "resolved by the parties") {
			t.Errorf("closing notice %s does not give the outcome:\n%s", m, m.Text)
		}
	}

	c := e.settle(oc.ID)
	e.expectKinds(c, map[string]string{
		consumer:    "confirm relay closed notice",
		traderEmail: "trader_notice closed",
	})
	if n := countEvents(c, "deadline", ""); n != 0 {
		t.Errorf("%d deadline events in a case closed within its window:\n%s", n, eventSummary(c))
	}
	e.expectEnd(oc.ID, "closed", "resolved")
}

// TestProcedureMediationSettled: the window passes, the consumer asks for
// mediation, Mia is assigned, the trader answers, Mia proposes, both accept.
func TestProcedureMediationSettled(t *testing.T) {
	e := newProcEnv(t, "choice_window", "30s", "mediation_reply", "30s")
	const consumer = "jan@consumer.example"
	oc := e.openCaseWith("Jan Jansen", consumer, plainComplaint)
	briefing := e.toMediation(oc)
	if !strings.Contains(briefing.Text, "arrived broken") {
		t.Errorf("briefing lacks the complaint:\n%s", briefing.Text)
	}

	// The trader answers in mediation: relayed to the consumer and to Mia.
	offer := "OFFER-" + token()
	e.reply(traderName, traderEmail, oc.Notice, "We offer 30 EUR. "+offer+"\n")
	e.mailTo(20*time.Second, "relay of the trader's offer to the consumer", oc.ID, consumer, offer)
	e.mailTo(20*time.Second, "relay of the trader's offer to the mediator", oc.ID, mediatorEmail, offer)

	proposal := "PROPOSAL-" + token()
	e.mediatorSays(briefing, "#propose\nAcme refunds 40.00 EUR within 14 days. "+proposal)
	cp := e.mailTo(20*time.Second, "proposal to the consumer", oc.ID, consumer, proposal)
	tp := e.mailTo(20*time.Second, "proposal to the trader", oc.ID, traderEmail, proposal)
	if strings.Contains(cp.Text, "#propose") {
		t.Errorf("the proposal shows the command:\n%s", cp.Text)
	}

	// The trader accepts by the accept address of its proposal mail...
	e.send(traderName+" <"+traderEmail+">", traderEmail, e.choiceAddr(tp, "accept"), "accept", "")
	e.mailTo(20*time.Second, "consumer told the trader accepted", oc.ID, consumer, traderName+" accepted the settlement proposal")
	if c := e.d.MustCase(oc.ID); c.State != "mediation" {
		t.Fatalf("state %q after one acceptance, want mediation", c.State)
	}
	// ...and the consumer with a one-word reply.
	e.reply("Jan Jansen", consumer, cp, "ACCEPT\n")

	// The closing notice is how the trader and Mia learn the consumer accepted.
	for _, addr := range []string{consumer, traderEmail, mediatorEmail} {
		m := e.mailTo(20*time.Second, "closing notice to "+addr, oc.ID, addr, closedText(oc.ID))
		if !strings.Contains(m.Text, "settled in mediation") || !strings.Contains(m.Text, proposal) {
			t.Errorf("closing notice to %s does not give the outcome and the terms:\n%s", addr, m.Text)
		}
	}
	c := e.settle(oc.ID)
	e.expectKinds(c, map[string]string{
		consumer:      "confirm choice mediation relay proposal notice closed notice",
		traderEmail:   "trader_notice reminder window_ended mediation proposal notice closed",
		mediatorEmail: "mediation relay notice closed",
	})
	e.expectEnd(oc.ID, "closed", "settled")
}

// TestProcedureTraderSilentInMediation: with no arbitration body configured, a
// case whose trader does not answer within mediation_reply is closed as
// refused; the consumer is told where else to turn, and nobody is promised an
// arbitration.
func TestProcedureTraderSilentInMediation(t *testing.T) {
	e := newProcEnv(t, "choice_window", "30s")
	const consumer = "jan@consumer.example"
	oc := e.openCaseWith("Jan Jansen", consumer, eligibleComplaint("49.95 EUR"))
	e.toMediation(oc)

	due := e.d.MustCase(oc.ID).Deadline // mediation_reply from the mediation choice
	wait := e.clock("mediation_reply") + slack
	cn := e.mailTo(wait, "consumer's closing notice", oc.ID, consumer, closedText(oc.ID))
	for _, want := range []string{"recorded as a refusal", "the trader refused to cooperate", "European Consumer Centres Network"} {
		if !strings.Contains(cn.Text, want) {
			t.Errorf("consumer's closing notice lacks %q:\n%s", want, cn.Text)
		}
	}
	if strings.Contains(cn.Text, "arbitration") {
		t.Errorf("arbitration promised with no body configured:\n%s", cn.Text)
	}
	tn := e.mailTo(20*time.Second, "trader's closing notice", oc.ID, traderEmail, closedText(oc.ID))
	if !strings.Contains(tn.Text, "recorded as a refusal") {
		t.Errorf("trader's closing notice does not mention the refusal:\n%s", tn.Text)
	}
	e.mailTo(20*time.Second, "mediator's closing notice", oc.ID, mediatorEmail, closedText(oc.ID))

	c := e.settle(oc.ID)
	if countEvents(c, "refused", "") != 1 {
		t.Errorf("silence not recorded as one refusal event:\n%s", eventSummary(c))
	}
	for _, ev := range c.Events {
		if ev.Kind == "refused" && ev.Time.Before(due) {
			t.Errorf("silence recorded at %s, before the mediation deadline %s", ev.Time, due)
		}
	}
	e.expectKinds(c, map[string]string{
		consumer:      "confirm choice mediation closed",
		traderEmail:   "trader_notice reminder window_ended mediation closed",
		mediatorEmail: "mediation closed",
	})
	e.expectEnd(oc.ID, "closed", "refused")
}

// TestProcedureReferralToBody: with an arbitration body configured, the
// mediator's #refer of a claim below arbitration_min is explained and the case
// stays in mediation; once the mediator corrects the amount (#set), #refer
// closes the case as referred, both parties learn the body, its URL and the
// fee, and the body receives a cover letter with the case file, which passes
// `parley case verify-export`.
func TestProcedureReferralToBody(t *testing.T) {
	e := newProcEnv(t, "choice_window", "30s", "mediation_reply", "30s",
		"arbitration_body", "DigiDispuut", "arbitration_address", "claims@body.example",
		"arbitration_url", "https://body.example/claim", "arbitration_lang", "nl")
	const consumer = "jan@consumer.example"
	oc := e.openCaseWith("Jan Jansen", consumer, eligibleComplaint("12.00 EUR"))
	briefing := e.toMediation(oc)

	e.mediatorSays(briefing, "#refer")
	why := e.mailTo(20*time.Second, "mediator's answer to #refer", oc.ID, mediatorEmail, "cannot be referred to arbitration now", "below €25.00")
	if c := e.d.MustCase(oc.ID); c.State != "mediation" {
		t.Fatalf("an ineligible #refer closed the case: %s", c.State)
	}
	e.mediatorSays(why, "#set amount 120 EUR\n#refer")
	cn := e.mailTo(20*time.Second, "consumer's closing notice", oc.ID, consumer, closedText(oc.ID))
	for _, want := range []string{"€120.00", "DigiDispuut", "https://body.example/claim", "€25.00", "reimburse"} {
		if !strings.Contains(cn.Text, want) {
			t.Errorf("consumer's closing notice lacks %q:\n%s", want, cn.Text)
		}
	}
	e.mailTo(20*time.Second, "trader's closing notice", oc.ID, traderEmail, closedText(oc.ID), "DigiDispuut")
	letter := e.mailTo(20*time.Second, "cover letter to the body", oc.ID, "claims@body.example", "DigiDispuut", "120,00", consumer, traderEmail)
	if lang := letter.Get("Content-Language"); lang != "nl" {
		t.Errorf("cover letter in %q, want arbitration_lang nl", lang)
	}

	// The attached case file verifies on its own, with the released binary.
	zipData := attachment(t, letter, "case-"+oc.ID+".zip")
	path := filepath.Join(t.TempDir(), "case.zip")
	if err := os.WriteFile(path, zipData, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, code := runCLI(t, "case", "verify-export", path); code != 0 {
		t.Fatalf("verify-export of the referred case file: exit %d\n%s", code, out)
	}
	c := e.settle(oc.ID)
	sum := sha256.Sum256(zipData)
	if countEvents(c, "referral", "") != 1 || !strings.Contains(eventSummary(c), hex.EncodeToString(sum[:])) {
		t.Errorf("the record does not keep the case file's fingerprint:\n%s", eventSummary(c))
	}
	e.expectEnd(oc.ID, "closed", "referred")
}

// attachment returns the decoded attachment called name of a sink message.
func attachment(t *testing.T, m *sinkMsg, name string) []byte {
	t.Helper()
	ent, err := message.Read(bytes.NewReader(m.Raw))
	if err != nil {
		t.Fatal(err)
	}
	mr := ent.MultipartReader()
	if mr == nil {
		t.Fatalf("%s has no attachments", m)
	}
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		if _, params, _ := p.Header.ContentDisposition(); params["filename"] == name {
			b, err := io.ReadAll(p.Body)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	t.Fatalf("%s lacks attachment %s", m, name)
	return nil
}

// TestProcedureAbandonedIntake: a complaint naming no trader gets the fill-in
// form; nobody answers; the intake closes as abandoned.
func TestProcedureAbandonedIntake(t *testing.T) {
	e := newProcEnv(t)
	const consumer = "kees@consumer.example"
	e.complain(complaintsAddr, "Kees de Vries", consumer, "Problem with my order",
		"Hello,\n\nSomething went wrong with my order and I want a refund. MARKER\n")
	form := e.sink.WaitFor(20*time.Second, "fill-in form", func(m *sinkMsg) bool {
		return m.To(consumer) && strings.Contains(m.Text, "Trader:")
	})
	id := form.CaseID()
	if id == "" {
		t.Fatalf("fill-in form has no X-Parley-Case header:\n%s", form.Raw)
	}
	if c := e.d.MustCase(id); c.State != "intake" {
		t.Fatalf("state %q after the fill-in form, want intake", c.State)
	}

	wait := e.clock("incomplete_intake") + slack
	n := e.mailTo(wait, "closing notice", id, consumer, closedText(id), "The missing information did not arrive in time, so the shop was not contacted",
		"closed for lack of an answer in time")
	if len(e.sink.Matching(func(m *sinkMsg) bool { return m.To(traderEmail) })) != 0 {
		t.Errorf("a trader was written to about a complaint naming none:\n%s", e.sink.Summary())
	}

	c := e.settle(id)
	if n.ReplyTo() != c.Party("consumer").CaseAddress {
		t.Errorf("closing notice Reply-To %q, want the consumer's case address %q", n.ReplyTo(), c.Party("consumer").CaseAddress)
	}
	e.expectKinds(c, map[string]string{consumer: "need_info closed"})
	e.expectEnd(id, "closed", "abandoned")
}

// TestProcedureDeadlinePassesWhileStopped: the trader's window ends while the
// daemon is down; after the start the consumer's choice mail goes out once and
// the window-end is logged once.
func TestProcedureDeadlinePassesWhileStopped(t *testing.T) {
	e := newProcEnv(t, "trader_window", "4s", "choice_window", "30s", "mediation_reply", "30s")
	const consumer = "jan@consumer.example"
	oc := e.openCaseWith("Jan Jansen", consumer, plainComplaint)
	c := e.d.MustCase(oc.ID)
	e.d.Stop()

	window := e.clock("trader_window")
	remaining := time.Until(c.Deadline)
	switch {
	case c.Deadline.IsZero():
		t.Fatalf("case %s has no deadline in case show --json", oc.ID)
	case remaining > window:
		t.Fatalf("deadline %s is %s away, more than trader_window %s", c.Deadline, remaining, window)
	case remaining <= 0:
		t.Fatalf("the window ended before the daemon was stopped (deadline %s); the test needs a longer trader_window", c.Deadline)
	}
	// The case as the stopped daemon left it: still open, no window-end yet.
	if c := e.d.MustCase(oc.ID); c.State != "open" || countEvents(c, "deadline", "window-end") != 0 {
		t.Fatalf("after stopping: state %q, events:\n%s", c.State, eventSummary(c))
	}
	if n := len(e.sink.Matching(isChoiceMail(oc.ID, consumer))); n != 0 {
		t.Fatalf("choice mail sent before the window ended")
	}

	// Inherent to the test: the deadline has to pass while nothing runs.
	time.Sleep(remaining + 500*time.Millisecond)
	e.d.Start()

	choice := e.sink.WaitFor(slack, "consumer's choice mail after the start", isChoiceMail(oc.ID, consumer))
	// A later event of the same case: everything the start fired was handled
	// before it, so counting afterwards is final.
	e.reply("Jan Jansen", consumer, choice, "MEDIATION\n")
	e.mailTo(20*time.Second, "consumer's mediation notice", oc.ID, consumer, "is now in mediation")
	e.mailTo(20*time.Second, "trader's mediation notice", oc.ID, traderEmail, "The customer has asked for mediation")
	e.mailTo(20*time.Second, "mediator's briefing", oc.ID, mediatorEmail, "You are the mediator of case "+oc.ID)
	c = e.settle(oc.ID)

	if n := len(e.sink.Matching(isChoiceMail(oc.ID, consumer))); n != 1 {
		t.Errorf("consumer got %d choice mails, want exactly 1:\n%s", n, e.sink.Summary())
	}
	if n := countEvents(c, "deadline", "window-end"); n != 1 {
		t.Errorf("%d deadline events \"window-end\", want exactly 1:\n%s", n, eventSummary(c))
	}
	e.expectKinds(c, map[string]string{
		consumer:      "confirm choice mediation notice",
		mediatorEmail: "mediation",
	})
	e.expectEnd(oc.ID, "mediation", "")
}
