package procedure

import (
	"net/mail"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"parley/casestore"
	"parley/evidence"
	"parley/route"
)

// Finding the shop a complaint is about: a labelled line ("Trader: ..."),
// else a registered shop named anywhere in the text (its address, its
// domain, its name or handle), else an address in the text, named as the
// consumer wrote it ("bei Fietsenwinkel Jansen (info@jansen.example)").

var emailRe = regexp.MustCompile(`[A-Za-z0-9.!#$%&'*+/=?^_{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+`)

// countryLang maps a country domain to the language a shop there reads,
// where Parley speaks it; other shops are written to in the consumer's
// language.
var countryLang = map[string]string{
	"nl": "nl", "de": "de", "at": "de", "fr": "fr", "it": "it", "pl": "pl", "no": "nb",
	"uk": "en", "ie": "en", "mt": "en",
}

// unregisteredShop is the party for an address no registered trader has,
// named as the consumer wrote it, in the language of its country domain or
// else the consumer's.
func (e *Engine) unregisteredShop(email, name, consumerLang string) casestore.Party {
	domain := email[strings.LastIndexByte(email, '@')+1:]
	if name == "" {
		name = domain
	}
	lang := langOr(consumerLang, e.loc.Default())
	if l, ok := countryLang[strings.ToLower(domain[strings.LastIndexByte(domain, '.')+1:])]; ok && e.loc.Supported(l) {
		lang = l
	}
	return casestore.Party{Role: route.Trader, Name: name, Email: email, Lang: lang}
}

// resolveTrader returns the trader party for an address: the registered
// trader whose address or domain it is, else an unregistered shop.
func (e *Engine) resolveTrader(tx *casestore.Tx, email, name, consumerLang string) casestore.Party {
	if tr, err := tx.TraderByEmail(email); err == nil {
		return casestore.Party{Role: route.Trader, Name: tr.Name, Email: tr.Email, Lang: tr.Lang, Handle: tr.Handle}
	}
	return e.unregisteredShop(email, name, consumerLang)
}

// usableShopAddress: an address a shop could have (not the consumer's, not
// one of Parley's own).
func (e *Engine) usableShopAddress(email, consumerEmail string) bool {
	n := casestore.NormalizeEmail(email)
	return n != "" && evidence.ValidAddress(email) && n != casestore.NormalizeEmail(consumerEmail) &&
		!strings.HasSuffix(n, "@"+strings.ToLower(e.domain))
}

// traderFrom finds the shop: from the value of a trader line ("Name <addr>"
// or an address), else from the running text. A website or a name that no
// registered shop has cannot be written to, so it counts as missing.
func (e *Engine) traderFrom(tx *casestore.Tx, value, text, consumerEmail, consumerLang string) casestore.Party {
	if value != "" {
		var email, name string
		if a, err := mail.ParseAddress(value); err == nil {
			email, name = a.Address, a.Name
		} else if addr := emailRe.FindString(value); addr != "" {
			email = addr
			name = strings.Trim(strings.TrimSpace(strings.Replace(value, addr, "", 1)), " <>()[],;-")
		}
		if e.usableShopAddress(email, consumerEmail) {
			return e.resolveTrader(tx, email, name, consumerLang)
		}
		if p, ok := e.registeredIn(tx, value); ok {
			return p
		}
	}
	if p, ok := e.registeredIn(tx, text); ok {
		return p
	}
	for _, loc := range emailRe.FindAllStringIndex(text, 10) {
		email := text[loc[0]:loc[1]]
		if !e.usableShopAddress(email, consumerEmail) {
			continue
		}
		return e.resolveTrader(tx, email, nameBefore(text[:loc[0]]), consumerLang)
	}
	return casestore.Party{}
}

// registeredIn finds a registered shop named in text: by one of its
// addresses, a domain of it, its name or its handle, in that order.
func (e *Engine) registeredIn(tx *casestore.Tx, text string) (casestore.Party, bool) {
	traders, err := tx.Traders()
	if err != nil || len(traders) == 0 {
		return casestore.Party{}, false
	}
	lower := strings.ToLower(text)
	party := func(tr casestore.Trader) casestore.Party {
		return casestore.Party{Role: route.Trader, Name: tr.Name, Email: tr.Email, Lang: tr.Lang, Handle: tr.Handle}
	}
	for _, addr := range emailRe.FindAllString(text, 10) {
		if tr, err := tx.TraderByEmail(addr); err == nil {
			return party(tr), true
		}
	}
	for _, tr := range traders {
		for _, d := range tr.AllDomains() {
			if containsWord(lower, d) {
				return party(tr), true
			}
		}
	}
	for _, tr := range traders {
		if name := strings.ToLower(tr.Name); len([]rune(name)) >= 3 && containsWord(lower, name) {
			return party(tr), true
		}
	}
	for _, tr := range traders {
		if len(tr.Handle) >= 3 && containsWord(lower, tr.Handle) {
			return party(tr), true
		}
	}
	return casestore.Party{}, false
}

// containsWord reports whether s holds w with no letter or digit glued to
// either side.
func containsWord(s, w string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], w)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(w)
		before, _ := utf8.DecodeLastRuneInString(s[:start])
		after, _ := utf8.DecodeRuneInString(s[end:])
		if (start == 0 || !isWordRune(before)) && (end == len(s) || !isWordRune(after)) {
			return true
		}
		i = start + 1
	}
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// nameBefore is the shop's name as written right before its address: up to
// four words that start with a capital or a digit ("bei Acme Shop (").
func nameBefore(s string) string {
	s = strings.TrimRight(s, " \t([<:-,")
	words := strings.Fields(s)
	var name []string
	for i := len(words) - 1; i >= 0 && len(name) < 4; i-- {
		w := strings.Trim(words[i], `"'“”„`)
		r, _ := utf8.DecodeRuneInString(w)
		if w == "" || !(unicode.IsUpper(r) || unicode.IsDigit(r)) || strings.ContainsAny(words[i], ".!?:;") {
			break
		}
		name = append([]string{w}, name...)
	}
	return strings.Join(name, " ")
}
