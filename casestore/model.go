package casestore

import (
	"slices"
	"strings"
	"time"

	"parley/route"
)

// Trader is a registered shop: HANDLE@DOMAIN is its complaint address.
// Email is where its notices go; Staff are further addresses that speak for
// it (a colleague answering), and any address at one of Domains does too.
type Trader struct {
	Handle  string    `json:"handle"`
	Name    string    `json:"name"`
	Email   string    `json:"email"`
	Lang    string    `json:"lang"`
	Created time.Time `json:"created"`
	Staff   []Staff   `json:"staff,omitempty"`
	Domains []string  `json:"domains,omitempty"`
}

// Staff is a further address of a trader. With CC it gets a copy of all
// the trader's mail in every case; without, only in the cases it wrote in.
type Staff struct {
	Email string `json:"email"`
	CC    bool   `json:"cc,omitempty"`
}

// Addresses are the trader's own addresses, Email first.
func (tr Trader) Addresses() []string {
	out := []string{tr.Email}
	for _, s := range tr.Staff {
		out = append(out, s.Email)
	}
	return out
}

// Speaks reports whether mail from addr speaks for the trader: one of its
// addresses, or any address at one of its domains.
func (tr Trader) Speaks(addr string) bool {
	addr = NormalizeEmail(addr)
	for _, a := range tr.Addresses() {
		if NormalizeEmail(a) == addr {
			return true
		}
	}
	at := strings.LastIndexByte(addr, '@')
	for _, d := range tr.Domains {
		if at >= 0 && addr[at+1:] == strings.ToLower(d) {
			return true
		}
	}
	return false
}

// freeMail are mail providers whose domain says nothing about a shop.
var freeMail = map[string]bool{"gmail.com": true, "googlemail.com": true, "outlook.com": true, "hotmail.com": true, "live.com": true,
	"yahoo.com": true, "icloud.com": true, "me.com": true, "proton.me": true, "protonmail.com": true, "gmx.de": true, "gmx.net": true,
	"web.de": true, "t-online.de": true, "wp.pl": true, "o2.pl": true, "onet.pl": true, "interia.pl": true, "orange.fr": true,
	"free.fr": true, "laposte.net": true, "libero.it": true, "virgilio.it": true, "ziggo.nl": true, "kpnmail.nl": true, "online.no": true}

// FreeMail reports whether d is a mail provider's domain, where anyone can
// have an address: it cannot stand for one shop.
func FreeMail(d string) bool { return freeMail[strings.ToLower(d)] }

// AllDomains are the domains that name the trader in a text: its bound
// domains and the domain of its address (unless a mail provider's).
func (tr Trader) AllDomains() []string {
	out := append([]string(nil), tr.Domains...)
	if at := strings.LastIndexByte(tr.Email, '@'); at >= 0 {
		if d := strings.ToLower(tr.Email[at+1:]); !freeMail[d] {
			out = append(out, d)
		}
	}
	return out
}

// Party is one side of a case. Email is the real address, never shown to the other side.
type Party struct {
	Role   route.Role `json:"role"`
	Name   string     `json:"name"`
	Email  string     `json:"email"`
	Lang   string     `json:"lang"`
	Handle string     `json:"handle,omitempty"` // registered trader handle
	// Writes is the language the party writes in when Parley does not speak
	// it (Lang is then English): every mail to them opens with a line in it
	// saying so.
	Writes string `json:"writes,omitempty"`
	// Thread is every Message-ID Parley sent this party in this case, oldest
	// first (bounded), for In-Reply-To and References.
	Thread []string `json:"thread,omitempty"`
}

// Case states; the transitions between them are procedure's table.
const (
	StateIntake    = "intake"    // waiting for the consumer to complete the complaint
	StateOpen      = "open"      // trader's window: the parties talk directly
	StateChoice    = "choice"    // the window ended: the consumer chooses
	StateMediation = "mediation" // a mediator works the case
	StateClosed    = "closed"
)

// Outcomes of a closed case.
const (
	OutcomeResolved   = "resolved"   // resolved by the parties
	OutcomeSettled    = "settled"    // settled in mediation
	OutcomeReferred   = "referred"   // referred to arbitration
	OutcomeRefused    = "refused"    // the trader refused (or stayed silent in mediation)
	OutcomeAbandoned  = "abandoned"  // the consumer did not answer
	OutcomeWithdrawn  = "withdrawn"  // the consumer withdrew
	OutcomeIneligible = "ineligible" // not eligible for referral
	OutcomeUnresolved = "unresolved" // mediation ended without an agreement
)

// Outcomes lists every outcome, for validating #close.
var Outcomes = []string{OutcomeResolved, OutcomeSettled, OutcomeReferred, OutcomeRefused, OutcomeAbandoned, OutcomeWithdrawn, OutcomeIneligible, OutcomeUnresolved}

// Fields are what a dispute body needs from the complaint (the EU ODR form).
type Fields struct {
	OrderDate string `json:"order_date,omitempty"` // YYYY-MM-DD
	OrderRef  string `json:"order_ref,omitempty"`
	Amount    int64  `json:"amount,omitempty"` // cents
	Currency  string `json:"currency,omitempty"`
	Problem   string `json:"problem,omitempty"`
	Wants     string `json:"wants,omitempty"`     // refund, repair, replacement, other
	Contacted string `json:"contacted,omitempty"` // yes, no; "" is unknown
	// ComplainedOn is when the consumer first complained to the trader
	// (YYYY-MM-DD), as they state it; the complaint's age counts from it.
	ComplainedOn string `json:"complained_on,omitempty"`
}

// Proposal is a mediator's settlement proposal and each party's answer.
type Proposal struct {
	Text     string    `json:"text"`
	Created  time.Time `json:"created"`
	Consumer string    `json:"consumer,omitempty"` // accepted, rejected
	Trader   string    `json:"trader,omitempty"`
}

// Answered reports whether the proposal has its outcome: both accepted, or
// either rejected.
func (p *Proposal) Answered() bool {
	return p.Consumer == "rejected" || p.Trader == "rejected" || (p.Consumer == "accepted" && p.Trader == "accepted")
}

// Timer is a pending clock of a case, mirrored in the timers bucket.
type Timer struct {
	Kind string    `json:"kind"`
	Due  time.Time `json:"due"` // the deadline as the parties were told it
	// Internal marks a clock nobody was told as a deadline (a reminder).
	Internal bool `json:"internal,omitempty"`
	// After a failed action: the next attempt, the failures so far, the last
	// error, and whether it was parked (out of the schedule).
	Retry     time.Time `json:"retry,omitempty"`
	Attempts  int       `json:"attempts,omitempty"`
	LastError string    `json:"last_error,omitempty"`
	Parked    bool      `json:"parked,omitempty"`
}

// Case is a dispute.
type Case struct {
	ID       string    `json:"id"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
	State    string    `json:"state"`
	Outcome  string    `json:"outcome,omitempty"`
	Title    string    `json:"title"`
	Intake   string    `json:"intake"` // the address the complaint was sent to
	Consumer Party     `json:"consumer"`
	Trader   Party     `json:"trader"`
	Mediator Party     `json:"mediator"`
	// TraderStaff are the trader's further addresses that wrote in this
	// case: they get copies of the trader's mail in it.
	TraderStaff []string  `json:"trader_staff,omitempty"`
	Fields      Fields    `json:"fields"`
	Proposal    *Proposal `json:"proposal,omitempty"`
	// Extensions is how many extra trader windows the consumer granted.
	Extensions int `json:"extensions"`
	// Completed is when the complaint had everything the trader needs (the
	// complete complaint file of Directive 2013/11/EU art. 8(e)).
	Completed time.Time `json:"completed,omitempty"`
	// TraderAnswered is set when the trader writes in the current window or
	// in mediation; entering either clears it.
	TraderAnswered bool `json:"trader_answered,omitempty"`
	// Moves counts the transitions the case made; a choice can be undone
	// only while no other move followed it.
	Moves uint64 `json:"moves,omitempty"`
	// Undoable is the last choice a party made in writing, which that party
	// may take back within a day.
	Undoable *Undoable `json:"undoable,omitempty"`
	// MediationExtended is set once the mediator extended the mediation period.
	MediationExtended bool      `json:"mediation_extended,omitempty"`
	Closed            time.Time `json:"closed,omitempty"`
	Purged            bool      `json:"purged,omitempty"`
	// Deadline is the earliest deadline of the pending timers, for lists.
	Deadline time.Time `json:"deadline,omitempty"`
	Timers   []Timer   `json:"timers,omitempty"`
	// EvidenceCount is the number of evidence rows of the case.
	EvidenceCount uint64 `json:"evidence_count"`
	// Events is the number of events; the next event gets Events+1.
	Events   uint64 `json:"event_count"`
	LastHash string `json:"last_hash,omitempty"`
}

// clone is a deep copy of c: nothing of it shares memory with c
// (TestCaseCloneSharesNothing).
func (c *Case) clone() *Case {
	d := *c
	d.Consumer, d.Trader, d.Mediator = c.Consumer.clone(), c.Trader.clone(), c.Mediator.clone()
	d.TraderStaff = slices.Clone(c.TraderStaff)
	d.Timers = slices.Clone(c.Timers)
	d.Proposal = c.Proposal.clone()
	if c.Undoable != nil {
		u := *c.Undoable
		u.Told = slices.Clone(u.Told)
		u.Before.Timers = slices.Clone(u.Before.Timers)
		u.Before.Proposal = u.Before.Proposal.clone()
		u.Before.Mediator = u.Before.Mediator.clone()
		d.Undoable = &u
	}
	return &d
}

func (p Party) clone() Party {
	p.Thread = slices.Clone(p.Thread)
	return p
}

func (p *Proposal) clone() *Proposal {
	if p == nil {
		return nil
	}
	cp := *p
	return &cp
}

// Undoable is a choice a party may take back, with the case as it was
// before the choice.
type Undoable struct {
	By     route.Role   `json:"by"`
	Choice string       `json:"choice"` // the intent, e.g. mediation
	At     time.Time    `json:"at"`
	Until  time.Time    `json:"until"`
	Moves  uint64       `json:"moves"` // the case's Moves right after the choice
	Told   []route.Role `json:"told,omitempty"`
	Before Procedure    `json:"before"`
}

// Procedure is the part of a case the procedure moves: what an undo restores.
type Procedure struct {
	State             string    `json:"state"`
	Outcome           string    `json:"outcome,omitempty"`
	Closed            time.Time `json:"closed,omitempty"`
	Timers            []Timer   `json:"timers,omitempty"`
	Extensions        int       `json:"extensions"`
	Proposal          *Proposal `json:"proposal,omitempty"`
	TraderAnswered    bool      `json:"trader_answered,omitempty"`
	MediationExtended bool      `json:"mediation_extended,omitempty"`
	Mediator          Party     `json:"mediator"`
}

// Snapshot copies the procedure's part of the case.
func (c *Case) Snapshot() Procedure {
	p := Procedure{State: c.State, Outcome: c.Outcome, Closed: c.Closed, Timers: append([]Timer(nil), c.Timers...),
		Extensions: c.Extensions, TraderAnswered: c.TraderAnswered, MediationExtended: c.MediationExtended, Mediator: c.Mediator}
	if c.Proposal != nil {
		cp := *c.Proposal
		p.Proposal = &cp
	}
	return p
}

// Open reports whether the case is not closed.
func (c *Case) Open() bool { return c.State != StateClosed }

// PartyByRole returns a pointer to the party with the given role name.
func (c *Case) PartyByRole(role route.Role) *Party {
	switch role {
	case route.Consumer:
		return &c.Consumer
	case route.Trader:
		return &c.Trader
	case route.Mediator:
		return &c.Mediator
	}
	return nil
}

// Message flags.
const (
	FlagAutoReply   = "auto-reply"
	FlagQuarantined = "quarantined"
	FlagMalformed   = "malformed"
	FlagDuplicate   = "duplicate"
	FlagBounce      = "bounce"
)

// Message is one inbound message for one recipient, as accepted over SMTP.
type Message struct {
	ID         uint64    `json:"id"`
	Received   time.Time `json:"received"`
	RemoteAddr string    `json:"remote_addr"`
	Helo       string    `json:"helo"`
	MailFrom   string    `json:"mail_from"`
	Rcpt       string    `json:"rcpt"`
	// Target is what the recipient address resolved to at RCPT time.
	Target    route.Target `json:"target"`
	MessageID string       `json:"message_id,omitempty"`
	Size      int64        `json:"size"`
	SHA256    string       `json:"sha256"`
	CaseID    string       `json:"case_id,omitempty"`
	Role      route.Role   `json:"role,omitempty"`
	From      string       `json:"from,omitempty"`
	Subject   string       `json:"subject,omitempty"`
	Flags     []string     `json:"flags,omitempty"`
	Note      string       `json:"note,omitempty"`
	Auth      string       `json:"auth,omitempty"` // DMARC, SPF and DKIM results
	Processed bool         `json:"processed"`
	// TLS says the message arrived under STARTTLS, with which protocol
	// version ("TLS 1.3") and cipher suite (Go's name of it).
	TLS        bool   `json:"tls,omitempty"`
	TLSVersion string `json:"tls_version,omitempty"`
	TLSCipher  string `json:"tls_cipher,omitempty"`
	// RelayedTo is whom Parley passed the message on to, recorded in the
	// transaction that queued the relays (the mediators' mailbox names them
	// on the message instead of showing every copy).
	RelayedTo []Relay `json:"relayed_to,omitempty"`
}

// Relay is one copy of a party's message Parley queued for another party.
type Relay struct {
	Role route.Role `json:"role"`
	Out  uint64     `json:"out"`
	At   time.Time  `json:"at"`
}

// HasFlag reports whether the message carries flag f.
func (m *Message) HasFlag(f string) bool {
	for _, x := range m.Flags {
		if x == f {
			return true
		}
	}
	return false
}

// Event kinds.
const (
	EvCaseOpened   = "case-opened"
	EvMailIn       = "mail-in"
	EvMailOut      = "mail-out"
	EvRelayed      = "relayed"
	EvQuarantine   = "quarantine"
	EvAutoReply    = "auto-reply"
	EvStateChange  = "state"
	EvDelivered    = "delivered"
	EvDeliveryFail = "delivery-failed"
	EvBounce       = "bounce"
	EvDuplicate    = "duplicate"
	EvDeadline     = "deadline"
	EvChoice       = "choice"
	EvCommand      = "command"
	EvNote         = "note"
	EvProposal     = "proposal"
	EvClosed       = "closed"
	EvPurged       = "purged"
	EvRefused      = "refused"
	EvEvidence     = "evidence"
	EvFieldSet     = "field"        // a complaint field given or corrected after intake
	EvClockFailed  = "clock-failed" // a timer's action failed; it is retried or parked
	EvReferral     = "referral"     // the case file went to the arbitration body
)

// Mediator is a registered mediator of this deployment.
type Mediator struct {
	Email    string    `json:"email"`
	Name     string    `json:"name"`
	Lang     string    `json:"lang"`
	Password string    `json:"password,omitempty"` // argon2id PHC string
	Created  time.Time `json:"created"`
}

// Event is one entry of a case's append-only, hash-chained log.
type Event struct {
	Case    string     `json:"case"`
	Seq     uint64     `json:"seq"`
	Time    time.Time  `json:"time"`
	Kind    string     `json:"kind"`
	Role    route.Role `json:"role,omitempty"`
	Message uint64     `json:"message,omitempty"`
	Out     uint64     `json:"outbound,omitempty"`
	// Text is free text (a note, a command, a reason). The chain covers its
	// SHA-256, not the text itself, so deleting personal data after the
	// retention period leaves the record verifiable.
	Text    string `json:"text,omitempty"`
	TextSHA string `json:"text_sha256,omitempty"`
	// Digest is the SHA-256 of the content the event is about (the raw
	// message in or out, an evidence file), so the chain covers content too.
	Digest string `json:"sha256,omitempty"`
	Prev   string `json:"prev"`
	Hash   string `json:"hash"`
}

// Job kinds.
const (
	JobIngest = "ingest"
)

// Job is durable follow-up work committed with the message that caused it.
type Job struct {
	ID      uint64 `json:"id"`
	Kind    string `json:"kind"`
	Message uint64 `json:"message"`
	// Shard routes jobs of one case (or one intake sender) to one worker, so a
	// case's messages are handled in the order they were accepted.
	Shard string `json:"shard"`
}

// Outbound states.
const (
	OutQueued = "queued"
	OutSent   = "sent"
	OutFailed = "failed"
)

// Outbound is a message Parley sends, with its delivery state.
type Outbound struct {
	ID        uint64     `json:"id"`
	CaseID    string     `json:"case_id,omitempty"`
	Role      route.Role `json:"role,omitempty"`
	Kind      string     `json:"kind"` // template name
	To        string     `json:"to"`
	MailFrom  string     `json:"mail_from"`
	MessageID string     `json:"message_id"`
	Created   time.Time  `json:"created"`
	Next      time.Time  `json:"next"`
	Attempts  int        `json:"attempts"`
	State     string     `json:"state"`
	LastError string     `json:"last_error,omitempty"`
	// Via says where the last attempt went when that is not obvious (direct
	// delivery): host, address, TLS, MTA-STS mode and the server's reply.
	Via    string    `json:"via,omitempty"`
	Done   time.Time `json:"done,omitempty"`
	Size   int64     `json:"size"`
	SHA256 string    `json:"sha256"` // raw content, in the raw bucket or the blob folder
	// InboundAt is when the message this row relays was accepted (its 250);
	// zero for mail Parley writes itself. It times relays end to end.
	InboundAt time.Time `json:"inbound_at,omitzero"`
}
