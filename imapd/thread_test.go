package imapd

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-sasl"

	"parley/casestore"
	"parley/route"
)

// One scripted case in mediation: three messages from each party and a
// mediator's note, through SMTP, the procedure and the index. The case
// folder shows each message a person wrote once (naming whom it went to),
// threaded on the case, and no relayed copy. The figures before and after
// are logged: go test -v -run TestOneThreadPerCase ./imapd
func TestOneThreadPerCase(t *testing.T) {
	h := newHarness(t)
	h.addCase(caseA, casestore.StateMediation, "Acme Shop")
	p := startPipeline(h)
	folder := "Cases/K7Q-4M2P-Acme-Shop"
	consumerTo := h.keys.PartyLocal(caseA, route.Consumer) + "@" + testDomain
	traderTo := h.keys.PartyLocal(caseA, route.Trader) + "@" + testDomain
	for i := 1; i <= 3; i++ {
		sendSMTP(t, p.smtpAddr, nil, "jan@consumer.example", consumerTo,
			msg("Jan <jan@consumer.example>", "Re: [K7Q-4M2P] Broken kettle", fmt.Sprintf("Consumer message %d: the kettle still leaks and I would like my money back soon.", i)))
		sendSMTP(t, p.smtpAddr, nil, "support@acme.example", traderTo,
			msg("Acme <support@acme.example>", "Re: [K7Q-4M2P] Broken kettle", fmt.Sprintf("Trader message %d: we are looking into the leaking kettle with our supplier.", i)))
	}
	sendSMTP(t, p.subAddr, sasl.NewPlainClient("", testUser, testPassword), testUser, h.mediatorAddr(caseA),
		msg(testUser, "Re: [K7Q-4M2P] Broken kettle", "#note Both parties answered; propose a partial refund."))

	c := h.client(nil)
	var n uint32
	waitFor(t, "the case's mail in its folder", func() bool {
		st, err := c.Status(folder, &imap.StatusOptions{NumMessages: true}).Wait()
		if err == nil && st.NumMessages != nil {
			n = *st.NumMessages
		}
		return n >= 8
	})
	time.Sleep(50 * time.Millisecond) // nothing more is expected; a stray copy would show now
	// What the folder showed before this layout: every stored message, every
	// outbound copy, every note.
	var before int
	h.store.View(func(tx *casestore.Tx) error {
		msgs, _ := tx.CaseMessages(caseA)
		outs, _ := tx.CaseOutbound(caseA)
		evs, _ := tx.Events(caseA)
		before = len(msgs) + len(outs)
		for _, ev := range evs {
			if ev.Kind == casestore.EvNote {
				before++
			}
		}
		return nil
	})
	sel, err := c.Select(folder, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	all := imap.SeqSet{}
	all.AddRange(1, sel.NumMessages)
	ms := fetchAll(t, c, all, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	t.Logf("case folder: %d messages for 6 written by the parties, the mediator's mail and its note (the former layout: %d)", len(ms), before)
	seen := map[string]int{}
	for _, m := range ms {
		body := string(bodyOf(m))
		if !strings.Contains(body, "\r\nIn-Reply-To: <case-k7q-4m2p@") || !strings.Contains(body, "\r\nReferences: <case-k7q-4m2p@") {
			t.Errorf("message %d not threaded on the case:\n%.400s", m.SeqNum, body)
		}
		for _, who := range []string{"Consumer", "Trader"} {
			for i := 1; i <= 3; i++ {
				if strings.Contains(body, fmt.Sprintf("%s message %d:", who, i)) {
					seen[fmt.Sprintf("%s %d", who, i)]++
					others := map[string]string{"Consumer": "trader", "Trader": "consumer"}[who]
					if !strings.Contains(body, "X-Parley-Relayed: "+others+" ") || !strings.Contains(body, ", mediator ") {
						t.Errorf("%s message %d does not name its relays:\n%.400s", who, i, body)
					}
				}
			}
		}
	}
	for _, who := range []string{"Consumer", "Trader"} {
		for i := 1; i <= 3; i++ {
			if k := fmt.Sprintf("%s %d", who, i); seen[k] != 1 {
				t.Errorf("%s appears %d times in the case folder", k, seen[k])
			}
		}
	}
	if len(ms) != 8 {
		t.Errorf("case folder holds %d messages, want 8", len(ms))
	}
}

// A case folder indexed before this layout showed every relayed copy: the
// first sync after the upgrade takes them out once (EXPUNGE to clients),
// keeps the rest and their UIDs.
func TestOldLayoutLosesItsCopies(t *testing.T) {
	h := newHarness(t)
	h.addCase(caseA, casestore.StateMediation, "Acme Shop")
	h.addMessage(caseA, "consumer", msg("Jan <jan@consumer.example>", "Broken kettle", "It leaks."))
	h.addOutbound(caseA, msg("Parley <x@"+testDomain+">", "Broken kettle", "A notice."))
	var relay uint64
	h.update(func(tx *casestore.Tx) error {
		o := &casestore.Outbound{CaseID: caseA, Role: "trader", Kind: "relay", To: "support@acme.example", Created: h.clock().Add(time.Hour), State: casestore.OutSent}
		err := tx.AddOutbound(o, msg("Jan via Parley <y@"+testDomain+">", "Broken kettle", "It leaks."))
		relay = o.ID
		return err
	})
	x := h.srv.idx
	if err := x.refresh(); err != nil {
		t.Fatal(err)
	}
	// As the former layout had it: the relay indexed too.
	h.update(func(tx *casestore.Tx) error {
		mc, err := tx.MailCase(caseA)
		if err != nil {
			return err
		}
		mc.Layout = 0
		if _, err := tx.MailAppend(caseFolderKey(caseA), itemRef(caseA, kindOutbound, relay)); err != nil {
			return err
		}
		return tx.PutMailCase(mc)
	})
	items := func() []string {
		var out []string
		h.store.View(func(tx *casestore.Tx) error {
			es, _ := tx.MailItems(caseFolderKey(caseA), caseA+"/")
			for _, e := range es {
				out = append(out, fmt.Sprintf("%d:%s", e.UID, e.Item))
			}
			return nil
		})
		return out
	}
	t.Logf("before: %v", items())
	h.update(func(tx *casestore.Tx) error { // any change makes the case sync again
		c, err := tx.Case(caseA)
		if err != nil {
			return err
		}
		c.Title += "!"
		return tx.PutCase(c)
	})
	if err := x.refresh(); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(items(), " ")
	if strings.Contains(got, fmt.Sprintf("/o%d", relay)) || !strings.Contains(got, "1:"+caseA+"/m") || !strings.Contains(got, "2:"+caseA+"/o") {
		t.Errorf("after the upgrade: %s", got)
	}
}
