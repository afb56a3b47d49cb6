package notation

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Currencies are those of the EU and EEA plus GBP, CHF and USD.
var Currencies = []string{"EUR", "PLN", "CZK", "HUF", "RON", "BGN", "SEK", "DKK", "NOK", "ISK", "GBP", "CHF", "USD"}

// kroner marks words that name a krona or krone without saying whose.
const kroner = "kr"

// currencyWords maps what people write next to an amount (lower case, no
// trailing dot) to an ISO 4217 code, or to kroner when the language decides.
var currencyWords = map[string]string{
	"€": "EUR", "eur": "EUR", "euro": "EUR", "euros": "EUR", "eura": "EUR", "eur.": "EUR", "evro": "EUR", "evrov": "EUR",
	"evra": "EUR", "eurot": "EUR", "euroa": "EUR", "eurų": "EUR", "eurai": "EUR", "eiro": "EUR", "euró": "EUR", "euri": "EUR",
	"ευρώ": "EUR", "евро": "EUR", "euroja": "EUR", "eurů": "EUR", "ewro": "EUR", "euron": "EUR",
	"pln": "PLN", "zł": "PLN", "zl": "PLN", "złotych": "PLN", "złote": "PLN", "złoty": "PLN", "zlotych": "PLN", "zloty": "PLN",
	"czk": "CZK", "kč": "CZK", "kc": "CZK", "korun": "CZK", "koruny": "CZK", "koruna": "CZK",
	"huf": "HUF", "ft": "HUF", "forint": "HUF", "forintot": "HUF",
	"ron": "RON", "lei": "RON", "leu": "RON",
	"bgn": "BGN", "лв": "BGN", "лева": "BGN", "лев": "BGN",
	"sek": "SEK", "kronor": "SEK", "kronan": "SEK",
	"dkk": "DKK", "nok": "NOK",
	"isk": "ISK", "krónur": "ISK", "króna": "ISK", "krónum": "ISK",
	"kr": kroner, "kroner": kroner, "krone": kroner,
	"gbp": "GBP", "£": "GBP", "pound": "GBP", "pounds": "GBP",
	"chf": "CHF", "fr": "CHF", "sfr": "CHF", "franken": "CHF", "francs": "CHF", "franchi": "CHF",
	"usd": "USD", "$": "USD", "dollars": "USD",
}

// nordicKroner says whose krona a language means by "kr".
var nordicKroner = map[string]string{"sv": "SEK", "da": "DKK", "nb": "NOK", "is": "ISK"}

func isSymbol(r rune) bool { return r == '€' || r == '£' || r == '$' }

// lastWord is the word (letters, or one currency symbol) that ends s,
// skipping at most one space or no-break space before it.
func lastWord(s string) string {
	s = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(s, " "), "\u00a0"), "\u202f")
	r, size := utf8.DecodeLastRuneInString(s)
	if isSymbol(r) {
		return s[len(s)-size:]
	}
	end := len(s)
	if strings.HasSuffix(s, ".") {
		end--
	}
	i := end
	for i > 0 {
		r, size := utf8.DecodeLastRuneInString(s[:i])
		if !unicode.IsLetter(r) {
			break
		}
		i -= size
	}
	return s[i:end]
}

// firstWord is the word that starts s, after at most one space.
func firstWord(s string) string {
	s = strings.TrimPrefix(strings.TrimPrefix(strings.TrimPrefix(s, " "), "\u00a0"), "\u202f")
	r, size := utf8.DecodeRuneInString(s)
	if isSymbol(r) {
		return s[:size]
	}
	i := 0
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !unicode.IsLetter(r) {
			break
		}
		i += size
	}
	return s[:i]
}

// lookupCurrency resolves a currency word in lang: the code, and whether
// the word fits several currencies.
func lookupCurrency(word, lang string) (string, bool, bool) {
	code, ok := currencyWords[strings.ToLower(word)]
	if !ok {
		return "", false, false
	}
	if code == kroner {
		if c, ok := nordicKroner[lang]; ok {
			return c, false, true
		}
		return "", true, true
	}
	return code, false, true
}

// currencyAround finds the currency written right after or before the number
// at [start, end): its code, the span of number and currency together, and
// whether the currency is unclear.
func currencyAround(text string, start, end int, lang string) (string, int, int, bool) {
	if w := firstWord(text[end:]); w != "" {
		if code, unclear, ok := lookupCurrency(w, lang); ok {
			j := end + strings.Index(text[end:], w) + len(w)
			if j < len(text) && text[j] == '.' && strings.ToLower(w) != "eur" {
				j++ // "kr." "Fr." "лв."
			}
			return code, start, j, unclear
		}
	}
	if w := lastWord(text[:start]); w != "" {
		if code, unclear, ok := lookupCurrency(w, lang); ok {
			i := strings.LastIndex(text[:start], w)
			return code, i, end, unclear
		}
	}
	return "", start, end, false
}
