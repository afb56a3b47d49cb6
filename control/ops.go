// Package control owns the operator's interface to a data folder: the
// operations behind `parley trader ...` and `parley case ...`, served by the
// daemon on a unix socket in the data folder (mode 0600, JSON over HTTP), and
// run directly against the bbolt file when no daemon holds it. bbolt's file
// lock admits one process, so while `parley serve` runs the socket is the only
// way in.
package control

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"parley/backup"
	"parley/casefile"
	"parley/casestore"
	"parley/locales"
	"parley/password"
	"parley/route"
	"parley/threading"
)

// Interface is what the command line can ask, locally or through the socket.
type Interface interface {
	AddTrader(req TraderAdd) (casestore.Trader, error)
	Trader(handle string) (casestore.Trader, error)
	ChangeTrader(req TraderChange) (casestore.Trader, error)
	Traders() ([]casestore.Trader, error)
	Cases(limit int, after string) (CasePage, error)
	Case(id string) (*CaseDetail, error)
	AddMediator(req MediatorAdd) (casestore.Mediator, error)
	Mediators() ([]casestore.Mediator, error)
	Verify(id string) (*Verification, error)
	Export(id string, w io.Writer) error
	Backup(w io.Writer) error
	Fsck(req FsckRequest) (*backup.Report, error)
}

// MediatorAdd is the request of `parley mediator add`.
type MediatorAdd struct {
	Email    string `json:"email"`
	Name     string `json:"name"`
	Lang     string `json:"lang"`
	Password string `json:"password"`
}

// Verification is the result of `parley case verify`.
type Verification struct {
	Case   string `json:"case"`
	Events int    `json:"events"`
	OK     bool   `json:"ok"`
	Head   string `json:"head"` // hash of the last event
	// ClosedSeq and ClosedHash are the "closed" event: the fingerprint the
	// parties' closing notices carry.
	ClosedSeq  uint64 `json:"closed_event,omitempty"`
	ClosedHash string `json:"closed_hash,omitempty"`
	BadSeq     uint64 `json:"bad_event,omitempty"`
	Reason     string `json:"reason,omitempty"`
}

// TraderAdd is the request of `parley trader add`.
type TraderAdd struct {
	Handle string `json:"handle"`
	Name   string `json:"name"`
	Email  string `json:"email"` // where notices go
	Lang   string `json:"lang"`
	// Staff are further addresses that speak for the shop; those in CC
	// also get a copy of all its mail. Any address at Domains speaks for it.
	Staff   []string `json:"staff,omitempty"`
	CC      []string `json:"cc,omitempty"`
	Domains []string `json:"domains,omitempty"`
}

// TraderChange adds or removes one address or domain of a trader.
type TraderChange struct {
	Handle       string `json:"handle"`
	AddEmail     string `json:"add_email,omitempty"`
	CC           bool   `json:"cc,omitempty"` // with AddEmail: copies of all mail
	RemoveEmail  string `json:"remove_email,omitempty"`
	AddDomain    string `json:"add_domain,omitempty"`
	RemoveDomain string `json:"remove_domain,omitempty"`
}

// CaseSummary is one line of `parley case list`.
type CaseSummary struct {
	ID       string    `json:"id"`
	Created  time.Time `json:"created"`
	State    string    `json:"state"`
	Outcome  string    `json:"outcome,omitempty"`
	Title    string    `json:"title"`
	Trader   string    `json:"trader"`
	Consumer string    `json:"consumer"`
	Messages int       `json:"messages"`
}

// PartyView is a party with its case address.
type PartyView struct {
	casestore.Party
	CaseAddress string `json:"case_address"`
}

// CaseDetail is `parley case show`.
type CaseDetail struct {
	casestore.Case
	Parties  []PartyView          `json:"parties"`
	Messages []casestore.Message  `json:"messages"`
	Outbound []casestore.Outbound `json:"outbound"`
	Events   []casestore.Event    `json:"events"`
	Evidence []casestore.Evidence `json:"evidence"`
}

// Ops runs the operations on an open store.
type Ops struct {
	Store     *casestore.Store
	Keys      *threading.Keys
	Domain    string
	Locales   *locales.Bundle
	Languages func(lang string) bool
}

// Export writes the case file (zip) of a case to w.
func (o *Ops) Export(id string, w io.Writer) error {
	id = threading.NormalizeCaseID(id)
	if err := o.Store.View(func(tx *casestore.Tx) error { _, err := tx.Case(id); return err }); err != nil {
		if errors.Is(err, casestore.ErrNotFound) {
			return fmt.Errorf("case %s: %w (parley case list shows the cases)", id, casestore.ErrNotFound)
		}
		return err
	}
	return casefile.Source{Store: o.Store, Locales: o.Locales}.Export(id, w)
}

var _ Interface = (*Ops)(nil)

var handleRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// reservedHandles are local parts Parley uses itself.
var reservedHandles = map[string]bool{"complaints": true, "postmaster": true, "abuse": true, "mailer-daemon": true, "noreply": true, "parley": true}

// ErrInvalid marks a request the operator must correct.
var ErrInvalid = errors.New("invalid request")

// AddTrader registers a trader (or updates one with the same handle).
func (o *Ops) AddTrader(req TraderAdd) (casestore.Trader, error) {
	h := strings.ToLower(strings.TrimSpace(req.Handle))
	switch {
	case !handleRe.MatchString(h):
		return casestore.Trader{}, fmt.Errorf("%w: handle %q: use 1-63 lower-case letters, digits and '-'", ErrInvalid, req.Handle)
	case reservedHandles[h]:
		return casestore.Trader{}, fmt.Errorf("%w: handle %q is reserved", ErrInvalid, h)
	case strings.TrimSpace(req.Name) == "":
		return casestore.Trader{}, fmt.Errorf("%w: --name is required", ErrInvalid)
	case o.Languages != nil && !o.Languages(req.Lang):
		return casestore.Trader{}, fmt.Errorf("%w: --lang %q has no locale", ErrInvalid, req.Lang)
	}
	if err := o.checkAddress(req.Email); err != nil {
		return casestore.Trader{}, err
	}
	tr := casestore.Trader{Handle: h, Name: threading.SanitizeHeader(req.Name), Email: strings.TrimSpace(req.Email), Lang: req.Lang, Created: o.Store.Now()}
	for _, a := range append(append([]string(nil), req.Staff...), req.CC...) {
		if err := o.checkAddress(a); err != nil {
			return casestore.Trader{}, err
		}
		tr = withStaff(tr, strings.TrimSpace(a), slices.ContainsFunc(req.CC, func(c string) bool { return strings.EqualFold(c, a) }))
	}
	for _, d := range req.Domains {
		d, err := o.checkDomain(d)
		if err != nil {
			return casestore.Trader{}, err
		}
		if !slices.Contains(tr.Domains, d) {
			tr.Domains = append(tr.Domains, d)
		}
	}
	err := o.Store.Update(func(tx *casestore.Tx) error {
		if old, err := tx.Trader(h); err == nil {
			// Registering again changes what is given and keeps the rest.
			tr.Created = old.Created
			if len(req.Staff)+len(req.CC) == 0 {
				tr.Staff = old.Staff
			}
			if len(req.Domains) == 0 {
				tr.Domains = old.Domains
			}
		}
		return tx.PutTrader(tr)
	})
	if err != nil {
		return casestore.Trader{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return tr, nil
}

// checkAddress refuses what cannot be a shop's own address.
func (o *Ops) checkAddress(a string) error {
	a = strings.TrimSpace(a)
	at := strings.LastIndexByte(a, '@')
	if at < 1 || at == len(a)-1 || strings.ContainsAny(a, " <>,;\r\n") {
		return fmt.Errorf("%w: %q is not an address", ErrInvalid, a)
	}
	if strings.EqualFold(a[at+1:], o.Domain) {
		return fmt.Errorf("%w: %s: a trader's address must be its own, not one at %s", ErrInvalid, a, o.Domain)
	}
	return nil
}

// checkDomain refuses a domain that cannot stand for one shop: Parley's own,
// or a mail provider's, where anyone can have an address.
func (o *Ops) checkDomain(d string) (string, error) {
	d = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(d), "@"))
	switch {
	case d == "" || !strings.Contains(d, ".") || strings.ContainsAny(d, " @/\r\n"):
		return "", fmt.Errorf("%w: %q is not a domain", ErrInvalid, d)
	case d == strings.ToLower(o.Domain):
		return "", fmt.Errorf("%w: %s is this service's own domain", ErrInvalid, d)
	case casestore.FreeMail(d):
		return "", fmt.Errorf("%w: %s is a mail provider's domain: anyone can have an address there, so it cannot speak for one shop; add the staff's addresses instead", ErrInvalid, d)
	}
	return d, nil
}

// withStaff adds or updates a staff address of tr.
func withStaff(tr casestore.Trader, addr string, cc bool) casestore.Trader {
	if strings.EqualFold(addr, tr.Email) {
		return tr
	}
	for i, s := range tr.Staff {
		if strings.EqualFold(s.Email, addr) {
			tr.Staff[i].CC = cc
			return tr
		}
	}
	tr.Staff = append(tr.Staff, casestore.Staff{Email: addr, CC: cc})
	return tr
}

// Trader shows one registered trader.
func (o *Ops) Trader(handle string) (tr casestore.Trader, err error) {
	err = o.Store.View(func(tx *casestore.Tx) (err error) { tr, err = tx.Trader(handle); return err })
	if errors.Is(err, casestore.ErrNotFound) {
		return tr, fmt.Errorf("trader %s: %w", handle, casestore.ErrNotFound)
	}
	return tr, err
}

// ChangeTrader adds or removes an address or a domain of a trader, keeping
// the rest of its registration.
func (o *Ops) ChangeTrader(req TraderChange) (casestore.Trader, error) {
	var tr casestore.Trader
	err := o.Store.Update(func(tx *casestore.Tx) (err error) {
		if tr, err = tx.Trader(req.Handle); err != nil {
			return fmt.Errorf("trader %s: %w", req.Handle, err)
		}
		switch {
		case req.AddEmail != "":
			if err := o.checkAddress(req.AddEmail); err != nil {
				return err
			}
			tr = withStaff(tr, strings.TrimSpace(req.AddEmail), req.CC)
		case req.RemoveEmail != "":
			if strings.EqualFold(strings.TrimSpace(req.RemoveEmail), tr.Email) {
				return fmt.Errorf("%w: %s is where the shop's notices go; register it again with another --email first", ErrInvalid, tr.Email)
			}
			n := len(tr.Staff)
			tr.Staff = slices.DeleteFunc(tr.Staff, func(s casestore.Staff) bool { return strings.EqualFold(s.Email, strings.TrimSpace(req.RemoveEmail)) })
			if len(tr.Staff) == n {
				return fmt.Errorf("%w: %s is not an address of trader %s", ErrInvalid, req.RemoveEmail, tr.Handle)
			}
		case req.AddDomain != "":
			d, err := o.checkDomain(req.AddDomain)
			if err != nil {
				return err
			}
			if !slices.Contains(tr.Domains, d) {
				tr.Domains = append(tr.Domains, d)
			}
		case req.RemoveDomain != "":
			d := strings.ToLower(strings.TrimSpace(req.RemoveDomain))
			n := len(tr.Domains)
			tr.Domains = slices.DeleteFunc(tr.Domains, func(x string) bool { return x == d })
			if len(tr.Domains) == n {
				return fmt.Errorf("%w: %s is not a domain of trader %s", ErrInvalid, d, tr.Handle)
			}
		default:
			return fmt.Errorf("%w: nothing to change", ErrInvalid)
		}
		if err := tx.PutTrader(tr); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		return nil
	})
	return tr, err
}

// AddMediator registers a mediator (or replaces one with the same address).
func (o *Ops) AddMediator(req MediatorAdd) (casestore.Mediator, error) {
	email := strings.TrimSpace(req.Email)
	switch {
	case !strings.Contains(email, "@") || strings.ContainsAny(email, " <>\r\n"):
		return casestore.Mediator{}, fmt.Errorf("%w: --email %q is not an address", ErrInvalid, req.Email)
	case strings.TrimSpace(req.Name) == "":
		return casestore.Mediator{}, fmt.Errorf("%w: --name is required", ErrInvalid)
	case o.Languages != nil && !o.Languages(req.Lang):
		return casestore.Mediator{}, fmt.Errorf("%w: --lang %q has no locale", ErrInvalid, req.Lang)
	}
	hash, err := password.Hash(req.Password)
	if err != nil {
		return casestore.Mediator{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	m := casestore.Mediator{Email: email, Name: threading.SanitizeHeader(req.Name), Lang: req.Lang, Password: hash, Created: o.Store.Now()}
	if err := o.Store.Update(func(tx *casestore.Tx) error { return tx.PutMediator(m) }); err != nil {
		return casestore.Mediator{}, err
	}
	m.Password = ""
	return m, nil
}

// Mediators lists the registered mediators, without their password hashes.
func (o *Ops) Mediators() ([]casestore.Mediator, error) {
	var out []casestore.Mediator
	err := o.Store.View(func(tx *casestore.Tx) (err error) { out, err = tx.Mediators(); return err })
	for i := range out {
		out[i].Password = ""
	}
	return out, err
}

// Verify checks the hash chain of a case's event log.
func (o *Ops) Verify(id string) (*Verification, error) {
	id = threading.NormalizeCaseID(id)
	v := &Verification{Case: id}
	err := o.Store.View(func(tx *casestore.Tx) error {
		c, err := tx.Case(id)
		if err != nil {
			return err
		}
		evs, err := tx.Events(id)
		if err != nil {
			return err
		}
		v.Events, v.Head = len(evs), c.LastHash
		for _, ev := range evs {
			if ev.Kind == casestore.EvClosed {
				v.ClosedSeq, v.ClosedHash = ev.Seq, ev.Hash
			}
		}
		v.BadSeq, v.Reason = casestore.VerifyEvents(c, evs)
		v.OK = v.BadSeq == 0
		return nil
	})
	if errors.Is(err, casestore.ErrNotFound) {
		return nil, fmt.Errorf("case %s: %w (parley case list shows the cases)", id, casestore.ErrNotFound)
	}
	return v, err
}

// Traders lists the registered traders.
func (o *Ops) Traders() (out []casestore.Trader, err error) {
	err = o.Store.View(func(tx *casestore.Tx) error { out, err = tx.Traders(); return err })
	return out, err
}

// CasePage is one page of `case list`: cases newest first, and whether
// older ones follow (ask again with after = the last ID).
type CasePage struct {
	Cases []CaseSummary `json:"cases"`
	More  bool          `json:"more"`
}

// Cases lists up to limit cases, newest first, after the case with id after
// ("" for the newest), from the store's opening-time index.
func (o *Ops) Cases(limit int, after string) (CasePage, error) {
	var out CasePage
	if after != "" {
		after = threading.NormalizeCaseID(after)
	}
	err := o.Store.View(func(tx *casestore.Tx) error {
		cases, more, err := tx.CasesPage(limit, after)
		if err != nil {
			if errors.Is(err, casestore.ErrNotFound) {
				return fmt.Errorf("no case %s to list after: %w", after, casestore.ErrNotFound)
			}
			return err
		}
		out.More = more
		out.Cases = make([]CaseSummary, 0, len(cases))
		for _, c := range cases {
			out.Cases = append(out.Cases, CaseSummary{
				ID: c.ID, Created: c.Created.UTC(), State: c.State, Outcome: c.Outcome,
				Title: c.Title, Trader: c.Trader.Name, Consumer: c.Consumer.Email, Messages: tx.CaseMessageCount(c.ID),
			})
		}
		return nil
	})
	return out, err
}

// Case returns everything about one case.
func (o *Ops) Case(id string) (*CaseDetail, error) {
	id = threading.NormalizeCaseID(id)
	var d CaseDetail
	err := o.Store.View(func(tx *casestore.Tx) error {
		c, err := tx.Case(id)
		if err != nil {
			return err
		}
		d.Case = *c
		for _, p := range []struct {
			party casestore.Party
			role  route.Role
		}{{c.Consumer, route.Consumer}, {c.Trader, route.Trader}, {c.Mediator, route.Mediator}} {
			if p.party.Email == "" {
				continue
			}
			d.Parties = append(d.Parties, PartyView{Party: p.party, CaseAddress: o.Keys.PartyLocal(c.ID, p.role) + "@" + o.Domain})
		}
		if d.Messages, err = tx.CaseMessages(id); err != nil {
			return err
		}
		if d.Outbound, err = tx.CaseOutbound(id); err != nil {
			return err
		}
		if d.Evidence, err = tx.CaseEvidence(id); err != nil {
			return err
		}
		d.Events, err = tx.Events(id)
		return err
	})
	if errors.Is(err, casestore.ErrNotFound) {
		return nil, fmt.Errorf("case %s: %w (parley case list shows the cases)", id, casestore.ErrNotFound)
	}
	return &d, err
}
