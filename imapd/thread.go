package imapd

import (
	"fmt"
	"strings"
	"time"

	"parley/casestore"
)

// A case folder is one thread a mediator reads top to bottom: each message a
// person wrote appears once, as it was received, with a header naming whom
// Parley passed it on to (X-Parley-Relayed), instead of the received copy
// and one relayed copy per reader; each of Parley's own notices appears
// once, naming everyone it went to (X-Parley-Sent-To), instead of once per
// recipient. Every message is threaded on one root per case (References and
// In-Reply-To), so any client shows the case as one thread, both sides in
// it. Notices stay in the case folder rather than a subfolder: in mutt and
// Thunderbird a subfolder is a second place to look, and a notice
// (a deadline, a referral) is part of the story the mediator follows.

// caseLayout is the layout of case folders this code builds; MailCase.Layout
// older than it is migrated once (relays and duplicate notices leave).
const caseLayout = 1

// relayKind is the outbound kind of a party's words passed on to another.
const relayKind = "relay"

// sameNotice reports whether b is another recipient's copy of notice a: the
// same kind, made in the same transaction (Parley writes a notice's copies
// together, with one clock reading).
func sameNotice(a, b *casestore.Outbound) bool {
	return a != nil && b != nil && a.CaseID == b.CaseID && a.Kind == b.Kind && b.Created.Sub(a.Created).Abs() < time.Second
}

// shownInCase reports whether outbound row o appears in its case folder,
// given the case's row before it: relays never (the received message stands
// for them), a notice's copies after the first never.
func shownInCase(o, prev *casestore.Outbound) bool {
	return o.SHA256 != "" && o.Kind != relayKind && !sameNotice(prev, o)
}

// threadRoot is the Message-ID a case folder's messages are threaded on.
func threadRoot(caseID, replyTo string) string {
	domain := replyTo
	if _, d, ok := strings.Cut(replyTo, "@"); ok {
		domain = d
	}
	return "<case-" + strings.ToLower(caseID) + "@" + domain + ">"
}

// relayedHeader names whom a message was passed on to and when.
func relayedHeader(m *casestore.Message) string {
	var parts []string
	for _, r := range m.RelayedTo {
		parts = append(parts, fmt.Sprintf("%s %s", r.Role, r.At.UTC().Format("2006-01-02T15:04Z")))
	}
	return strings.Join(parts, ", ")
}

// sentToHeader names the recipients of a notice: the roles of the copies
// made with it.
func sentToHeader(tx *casestore.Tx, o *casestore.Outbound) string {
	roles := []string{roleName(o)}
	rows, err := tx.CaseOutboundAfter(o.CaseID, o.ID)
	if err != nil {
		return roles[0]
	}
	for i := range rows {
		if i == 8 || !sameNotice(o, &rows[i]) {
			break
		}
		if r := roleName(&rows[i]); !contains(roles, r) {
			roles = append(roles, r)
		}
	}
	return strings.Join(roles, ", ")
}

// roleName is a row's recipient as a mediator reads it: the party's role, or
// the address for someone outside the case (the arbitration body).
func roleName(o *casestore.Outbound) string {
	if o.Role != "" {
		return string(o.Role)
	}
	if o.Kind == "referral" {
		return "arbitration body <" + o.To + ">"
	}
	return o.To
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
