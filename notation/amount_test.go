package notation

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

// amountCases are notations as consumers write them, one or more per
// language of the EU and EEA, each with the value and currency meant.
var amountCases = []struct {
	lang, text string
	cents      int64
	currency   string
}{
	// Dutch, German, Flemish: '.' groups thousands, ',' decimals, ",-" for whole euros.
	{"nl", "Bedrag: 25.000 EUR", 2500000, "EUR"},
	{"nl", "ik heb € 1.499,95 betaald", 149995, "EUR"},
	{"nl", "het kostte €49,95", 4995, "EUR"},
	{"nl", "prijs 349,- euro", 34900, "EUR"},
	{"nl", "totaal EUR 1.250,00", 125000, "EUR"},
	{"de", "Ich habe 1.299,99 € bezahlt", 129999, "EUR"},
	{"de", "Betrag: 30.000,00 EUR", 3000000, "EUR"},
	{"de", "Kosten 89,- €", 8900, "EUR"},
	{"de", "1.500 Euro", 150000, "EUR"},
	{"de", "CHF 1'250.50", 125050, "CHF"},
	{"de", "Fr. 99.90", 9990, "CHF"},
	{"de", "1’999.00 CHF", 199900, "CHF"},
	// English (IE, MT, UK): ',' groups, '.' decimals.
	{"en", "Amount: 30000.00 EUR", 3000000, "EUR"},
	{"en", "I paid €1,500", 150000, "EUR"},
	{"en", "EUR 12000.50", 1200050, "EUR"},
	{"en", "it cost 1500 EUR", 150000, "EUR"},
	{"en", "£49.99", 4999, "GBP"},
	{"en", "a refund of 1,234.56 euros", 123456, "EUR"},
	{"en", "12.5 EUR", 1250, "EUR"},
	{"ga", "€250", 25000, "EUR"},
	{"ga", "€1,200.00", 120000, "EUR"},
	{"mt", "€75.50", 7550, "EUR"},
	{"mt", "EUR 2,000", 200000, "EUR"},
	// French, Belgian French: space or no-break space groups, ',' decimals.
	{"fr", "montant : 1 299,00 €", 129900, "EUR"},
	{"fr", "j'ai payé 1\u00a0299,99\u00a0€", 129999, "EUR"},
	{"fr", "1\u202f500 euros", 150000, "EUR"},
	{"fr", "49,90 EUR", 4990, "EUR"},
	{"fr", "2.500 €", 250000, "EUR"},
	// Italian, Spanish, Portuguese.
	{"it", "Importo: € 1.200,00", 120000, "EUR"},
	{"it", "ho pagato 59,99 euro", 5999, "EUR"},
	{"es", "pagué 1.299,95 €", 129995, "EUR"},
	{"es", "importe 45 euros", 4500, "EUR"},
	{"pt", "paguei 1.050,00 €", 105000, "EUR"},
	{"pt", "€ 39,90", 3990, "EUR"},
	// Polish: space groups, ',' decimals, zł and złotych.
	{"pl", "Kwota: 1 299,00 zł", 129900, "PLN"},
	{"pl", "zapłaciłem 2500 złotych", 250000, "PLN"},
	{"pl", "PLN 350,50", 35050, "PLN"},
	{"pl", "1.200 zł", 120000, "PLN"},
	{"pl", "99,99 EUR", 9999, "EUR"},
	// Czech, Slovak.
	{"cs", "Částka: 12 990 Kč", 1299000, "CZK"},
	{"cs", "zaplatil jsem 1 500,50 Kč", 150050, "CZK"},
	{"cs", "3 999 korun", 399900, "CZK"},
	{"sk", "Suma: 249,90 €", 24990, "EUR"},
	{"sk", "1 200 eur", 120000, "EUR"},
	// Hungarian: Ft, no decimals in use.
	{"hu", "Összeg: 25 990 Ft", 2599000, "HUF"},
	{"hu", "fizettem 149.990 Ft-ot", 14999000, "HUF"},
	{"hu", "1.500 Ft", 150000, "HUF"},
	{"hu", "89,99 EUR", 8999, "EUR"},
	// Romanian, Bulgarian.
	{"ro", "Suma: 1.299,99 lei", 129999, "RON"},
	{"ro", "am plătit 450 RON", 45000, "RON"},
	{"ro", "99,00 euro", 9900, "EUR"},
	{"bg", "Сума: 1 250,00 лв.", 125000, "BGN"},
	{"bg", "платих 89,99 лв", 8999, "BGN"},
	{"bg", "120 евро", 12000, "EUR"},
	// Nordic: kr means the writer's own krona or krone.
	{"sv", "Belopp: 1 499 kr", 149900, "SEK"},
	{"sv", "jag betalade 2 999,50 kronor", 299950, "SEK"},
	{"da", "Beløb: 1.299,95 kr.", 129995, "DKK"},
	{"da", "DKK 450", 45000, "DKK"},
	{"nb", "Beløp: 2 499,- kr", 249900, "NOK"},
	{"nb", "kr 1 200,00", 120000, "NOK"},
	{"is", "Upphæð: 12.990 kr.", 1299000, "ISK"},
	{"is", "ég greiddi 25.000 krónur", 2500000, "ISK"},
	{"fi", "Summa: 1 299,00 €", 129900, "EUR"},
	{"fi", "maksoin 59,90 euroa", 5990, "EUR"},
	// Baltic.
	{"et", "Summa: 1 200,50 €", 120050, "EUR"},
	{"et", "maksin 45 eurot", 4500, "EUR"},
	{"lv", "Summa: 349,00 EUR", 34900, "EUR"},
	{"lv", "samaksāju 1 200 eiro", 120000, "EUR"},
	{"lt", "Suma: 1 299,99 €", 129999, "EUR"},
	{"lt", "sumokėjau 250 eurų", 25000, "EUR"},
	// Greek, Croatian, Slovenian.
	{"el", "Ποσό: 1.250,00 €", 125000, "EUR"},
	{"el", "πλήρωσα 89,90 ευρώ", 8990, "EUR"},
	{"hr", "Iznos: 1.299,00 €", 129900, "EUR"},
	{"hr", "platio sam 450 eura", 45000, "EUR"},
	{"sl", "Znesek: 1.299,99 €", 129999, "EUR"},
	{"sl", "plačal sem 120 evrov", 12000, "EUR"},
	// The cases that lost digits before: every digit kept.
	{"en", "Amount: 30000.00 EUR", 3000000, "EUR"},
	{"nl", "1500 EUR", 150000, "EUR"},
	{"en", "EUR 12000,50", 1200050, "EUR"},
	{"nl", "25.000 EUR", 2500000, "EUR"},
	{"de", "250.000,00 €", 25000000, "EUR"},
	{"en", "€1,000,000", 100000000, "EUR"},
	{"fr", "1 000 000 €", 100000000, "EUR"},
}

func TestAmountNotations(t *testing.T) {
	langs := map[string]bool{}
	for _, tc := range amountCases {
		langs[tc.lang] = true
		found := FindAmounts(tc.text, tc.lang)
		if len(found) != 1 || !found[0].Clear() {
			t.Errorf("%s %q: found %+v", tc.lang, tc.text, found)
			continue
		}
		a := found[0].Readings[0]
		if a.Cents != tc.cents || a.Currency != tc.currency {
			t.Errorf("%s %q: %s, want %d.%02d %s", tc.lang, tc.text, a, tc.cents/100, tc.cents%100, tc.currency)
		}
	}
	if len(amountCases) < 80 || len(langs) < 26 {
		t.Errorf("%d notations in %d languages; the table must cover all 26 with 80 or more", len(amountCases), len(langs))
	}
}

// A notation two readings fit is ambiguous, never guessed; so is "kr"
// outside the Nordic languages.
func TestAmbiguousAmounts(t *testing.T) {
	for _, tc := range []struct {
		lang, text string
		readings   []int64
	}{
		{"en", "1.500 EUR", []int64{150000, 150}},
		{"de", "1,500 EUR", []int64{150000, 150}},
		{"", "1.500 EUR", []int64{150000, 150}},
		{"", "1,500 EUR", []int64{150000, 150}},
	} {
		f := FindAmounts(tc.text, tc.lang)
		if len(f) != 1 || len(f[0].Readings) != len(tc.readings) {
			t.Errorf("%s %q: %+v", tc.lang, tc.text, f)
			continue
		}
		for i, r := range tc.readings {
			if f[0].Readings[i].Cents != r {
				t.Errorf("%s %q reading %d: %d, want %d", tc.lang, tc.text, i, f[0].Readings[i].Cents, r)
			}
		}
		var amb *AmbiguousError
		if _, err := ParseAmount(tc.text, tc.lang); !errors.As(err, &amb) {
			t.Errorf("%s %q: ParseAmount %v, want ambiguous", tc.lang, tc.text, err)
		}
	}
	f := FindAmounts("ik betaalde 450 kr", "nl")
	if len(f) != 1 || !f[0].CurrencyUnclear || f[0].Clear() {
		t.Errorf("kr in Dutch: %+v", f)
	}
	// "1.505" cannot be an amount with three decimals.
	if a, err := ParseAmount("1.505 EUR", "en"); err != nil || a.Cents != 150500 {
		t.Errorf("1.505 EUR in English: %v %v", a, err)
	}
}

// Running text: only numbers next to a currency are amounts; dates, order
// numbers and codes are not.
func TestAmountsInRunningText(t *testing.T) {
	for text, want := range map[string]string{
		"Order 12345 of 3.10.2026 arrived broken; I paid 49,95 EUR and want it back.": "49.95 EUR",
		"Bestelling A-1234 (€ 1.299,00) op 12.10.2026":                                "1299.00 EUR",
		"tracking 3SABCD1234567 and invoice 2026-118":                                 "",
		"I called 3 times, 20 minutes each":                                           "",
		"Zamówienie nr 456, zapłaciłem 1 299,00 zł przelewem":                         "1299.00 PLN",
	} {
		var got []string
		for _, f := range FindAmounts(text, "") {
			got = append(got, f.Readings[0].String())
		}
		if strings.Join(got, ", ") != want {
			t.Errorf("%q: %v, want %q", text, got, want)
		}
	}
	if a, err := ParseAmount("300", "en"); err != nil || a.Cents != 30000 || a.Currency != "" {
		t.Errorf("a bare labelled value: %v %v", a, err)
	}
	for _, bad := range []string{"", "lots", "12.34.56", "1.234,567", "1,23,456"} {
		if a, err := ParseAmount(bad, "de"); err == nil {
			t.Errorf("%q read as %v", bad, a)
		}
	}
}

// keepsDigits reports whether cents can be what the digits of text's number
// mean: the same digits, with at most a zero dropped after a decimal point.
func keepsDigits(number string, cents int64) bool {
	var digits []byte
	for i := 0; i < len(number); i++ {
		if number[i] >= '0' && number[i] <= '9' {
			digits = append(digits, number[i])
		}
	}
	d := strings.TrimLeft(string(digits), "0")
	c := strconv.FormatInt(cents, 10)
	for _, v := range []string{c, strings.TrimSuffix(c, "0"), strings.TrimSuffix(c, "00")} {
		if strings.TrimLeft(v, "0") == d || strings.TrimLeft(v+"0", "0") == d {
			return true
		}
	}
	return d == "" && cents == 0
}

func FuzzAmount(f *testing.F) {
	for _, tc := range amountCases {
		f.Add(tc.text, tc.lang)
	}
	f.Add("1.500 EUR", "en")
	f.Add("€ 1 234 567,89", "fr")
	f.Fuzz(func(t *testing.T, text, lang string) {
		for _, found := range FindAmounts(text, lang) {
			for _, a := range found.Readings {
				if a.Start < 0 || a.End > len(text) || a.Start > a.End {
					t.Fatalf("%q: span %d-%d", text, a.Start, a.End)
				}
				if a.Cents < 0 || a.Cents > maxCents {
					t.Fatalf("%q: %d cents", text, a.Cents)
				}
				if !keepsDigits(a.Text, a.Cents) {
					t.Fatalf("%q: %q read as %s, which drops digits", text, a.Text, a)
				}
			}
		}
	})
}
