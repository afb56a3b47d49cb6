// Package route owns the small vocabulary that smtpd, procedure, imapd and
// casestore share about where mail goes: the roles of a case (Role), the
// choices a party makes by address (Choice), and what a recipient address
// resolved to at RCPT time (Target), with the text forms they are stored in.
//
// A Target's text form is what casestore keeps in each message row
// ("party:K7Q-4M2P:c"); Parse reads it back and nothing else splits it.
package route

import (
	"fmt"
	"strconv"
	"strings"
)

// Role is a party of a case.
type Role string

const (
	Consumer Role = "consumer"
	Trader   Role = "trader"
	Mediator Role = "mediator"
)

// Roles lists the roles in the order Parley addresses them.
var Roles = []Role{Consumer, Trader, Mediator}

// Valid reports whether r is one of the three roles.
func (r Role) Valid() bool { return r == Consumer || r == Trader || r == Mediator }

// Letter is the role's one-letter form in reply addresses and targets.
func (r Role) Letter() string {
	switch r {
	case Consumer:
		return "c"
	case Trader:
		return "t"
	case Mediator:
		return "m"
	}
	return ""
}

// RoleFromLetter reads the one-letter form.
func RoleFromLetter(s string) (Role, bool) {
	switch s {
	case "c":
		return Consumer, true
	case "t":
		return Trader, true
	case "m":
		return Mediator, true
	}
	return "", false
}

// Other is the party a consumer or trader corresponds with.
func (r Role) Other() Role {
	switch r {
	case Consumer:
		return Trader
	case Trader:
		return Consumer
	}
	return ""
}

// Choice is what a party says by mailing one of the case's choice addresses
// (a mailto link in a notice, one click in any client).
type Choice string

const (
	ChoiceResolved  Choice = "resolved"  // the consumer: my problem is solved
	ChoiceMediation Choice = "mediation" // the consumer: I want mediation
	ChoiceWait      Choice = "wait"      // the consumer: one more window for the shop
	ChoiceWithdraw  Choice = "withdraw"  // the consumer: close without resolution
	ChoiceAccept    Choice = "accept"    // a party accepts the settlement proposal
	ChoiceReject    Choice = "reject"    // a party rejects it
)

// Valid reports whether c is a known choice.
func (c Choice) Valid() bool {
	switch c {
	case ChoiceResolved, ChoiceMediation, ChoiceWait, ChoiceWithdraw, ChoiceAccept, ChoiceReject:
		return true
	}
	return false
}

// Kind says what a recipient address is.
type Kind uint8

const (
	KindNone       Kind = iota
	KindIntake          // a complaint address: complaints@ or HANDLE@
	KindParty           // a party's reply address of a case
	KindChoice          // a choice address of a case
	KindBounce          // the VERP return path of an outbound message
	KindPostmaster      // postmaster@ (RFC 5321 4.5.1)
)

// Target is what a recipient resolved to.
type Target struct {
	Kind     Kind
	Handle   string // KindIntake: the trader's handle; "" is the generic complaint address
	Lang     string // KindIntake: the language chosen by the address (acme.es@), or ""
	Case     string // KindParty, KindChoice
	Role     Role   // KindParty
	Choice   Choice // KindChoice
	Outbound uint64 // KindBounce
}

// Complaints is the generic complaint address.
func Complaints() Target { return Target{Kind: KindIntake} }

// Intake is a registered trader's complaint address.
func Intake(handle string) Target {
	return Target{Kind: KindIntake, Handle: strings.ToLower(handle)}
}

// IntakeIn is a complaint address that also chooses the language
// (acme.es@DOMAIN, complaints.es@DOMAIN).
func IntakeIn(handle, lang string) Target {
	t := Intake(handle)
	t.Lang = strings.ToLower(lang)
	return t
}

// Party is a party's reply address of a case.
func Party(caseID string, role Role) Target {
	return Target{Kind: KindParty, Case: caseID, Role: role}
}

// ChoiceOf is a choice address of a case.
func ChoiceOf(caseID string, c Choice) Target {
	return Target{Kind: KindChoice, Case: caseID, Choice: c}
}

// Bounce is the return path of outbound row n.
func Bounce(n uint64) Target { return Target{Kind: KindBounce, Outbound: n} }

// Postmaster is postmaster@DOMAIN.
func Postmaster() Target { return Target{Kind: KindPostmaster} }

// String is the stored text form.
func (t Target) String() string {
	switch t.Kind {
	case KindIntake:
		h := t.Handle
		if h == "" {
			h = "complaints"
		}
		if t.Lang != "" {
			h += "." + t.Lang
		}
		return "intake:" + h
	case KindParty:
		return "party:" + t.Case + ":" + t.Role.Letter()
	case KindChoice:
		return "choice:" + t.Case + ":" + string(t.Choice)
	case KindBounce:
		return "bounce:" + strconv.FormatUint(t.Outbound, 10)
	case KindPostmaster:
		return "postmaster"
	}
	return ""
}

// Parse reads the stored text form.
func Parse(s string) (Target, error) {
	kind, rest, _ := strings.Cut(s, ":")
	bad := func() (Target, error) { return Target{}, fmt.Errorf("route: bad target %q", s) }
	switch kind {
	case "":
		return Target{}, nil
	case "postmaster":
		if rest != "" {
			return bad()
		}
		return Postmaster(), nil
	case "intake":
		if rest == "" || strings.Contains(rest, ":") {
			return bad()
		}
		h, lang, _ := strings.Cut(rest, ".")
		if h == "complaints" {
			h = ""
		}
		return IntakeIn(h, lang), nil
	case "bounce":
		n, err := strconv.ParseUint(rest, 10, 64)
		if err != nil {
			return bad()
		}
		return Bounce(n), nil
	case "party", "choice":
		id, last, ok := strings.Cut(rest, ":")
		if !ok || id == "" {
			return bad()
		}
		if kind == "choice" {
			if c := Choice(last); c.Valid() {
				return ChoiceOf(id, c), nil
			}
			return bad()
		}
		if r, ok := RoleFromLetter(last); ok {
			return Party(id, r), nil
		}
		return bad()
	}
	return bad()
}

// MarshalText writes the text form (JSON stores a target as a string).
func (t Target) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText reads the text form.
func (t *Target) UnmarshalText(b []byte) error {
	v, err := Parse(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// CaseID is the case a party or choice address belongs to, else "".
func (t Target) CaseID() string {
	if t.Kind == KindParty || t.Kind == KindChoice {
		return t.Case
	}
	return ""
}

// SpeaksForParty reports whether mail to t acts as a party of a case, so its
// sender must be that party (sender binding, DMARC).
func (t Target) SpeaksForParty() bool { return t.Kind == KindParty || t.Kind == KindChoice }

// Shard names the queue a message's job goes to: one case's mail, or one
// intake sender's mail, is handled in the order it was accepted.
func (t Target) Shard(mailFrom string) string {
	switch t.Kind {
	case KindParty, KindChoice:
		return "case:" + t.Case
	case KindIntake:
		return "intake:" + strings.ToLower(mailFrom)
	}
	return t.String()
}
