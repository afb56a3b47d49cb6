package notation

import (
	"errors"
	"testing"
)

var dateCases = []struct{ lang, text, want string }{
	{"en", "ordered on 3 October 2026", "2026-10-03"},
	{"en", "on October 3, 2026", "2026-10-03"},
	{"en", "3rd of Oct. 2026", "2026-10-03"},
	{"en", "03/10/2026", "2026-10-03"},
	{"en", "2026-10-03", "2026-10-03"},
	{"ga", "3 Deireadh Fómhair 2026", "2026-10-03"},
	{"ga", "3 Meán Fómhair 2026", "2026-09-03"},
	{"mt", "3 ta' Ottubru 2026", "2026-10-03"},
	{"nl", "besteld op 3 oktober 2026", "2026-10-03"},
	{"nl", "3-10-2026", "2026-10-03"},
	{"de", "am 3. Oktober 2026 bestellt", "2026-10-03"},
	{"de", "3.10.2026", "2026-10-03"},
	{"de", "03.10.26", "2026-10-03"},
	{"de", "3. Jänner 2026", "2026-01-03"},
	{"fr", "le 3 octobre 2026", "2026-10-03"},
	{"fr", "1er août 2026", "2026-08-01"},
	{"fr", "03/10/2026", "2026-10-03"},
	{"it", "3 ottobre 2026", "2026-10-03"},
	{"es", "3 de octubre de 2026", "2026-10-03"},
	{"pt", "3 de outubro de 2026", "2026-10-03"},
	{"pl", "3 października 2026", "2026-10-03"},
	{"pl", "3.10.2026 r.", "2026-10-03"},
	{"pl", "12 listopada 2026", "2026-11-12"},
	{"cs", "3. října 2026", "2026-10-03"},
	{"cs", "3. 10. 2026", "2026-10-03"},
	{"sk", "3. októbra 2026", "2026-10-03"},
	{"sl", "3. oktobra 2026", "2026-10-03"},
	{"hr", "3. listopada 2026.", "2026-10-03"},
	{"hu", "2026. október 3.", "2026-10-03"},
	{"hu", "2026. 10. 03.", "2026-10-03"},
	{"ro", "3 octombrie 2026", "2026-10-03"},
	{"bg", "3 октомври 2026", "2026-10-03"},
	{"el", "3 Οκτωβρίου 2026", "2026-10-03"},
	{"da", "3. oktober 2026", "2026-10-03"},
	{"sv", "3 oktober 2026", "2026-10-03"},
	{"sv", "2026-10-03", "2026-10-03"},
	{"nb", "3. oktober 2026", "2026-10-03"},
	{"is", "3. október 2026", "2026-10-03"},
	{"fi", "3. lokakuuta 2026", "2026-10-03"},
	{"et", "3. oktoobril 2026", "2026-10-03"},
	{"lv", "2026. gada 3. oktobrī", "2026-10-03"},
	{"lt", "2026 m. spalio 3 d.", "2026-10-03"},
	{"lt", "2026-10-03", "2026-10-03"},
}

func TestDateNotations(t *testing.T) {
	langs := map[string]bool{}
	for _, tc := range dateCases {
		langs[tc.lang] = true
		d, err := ParseDate(tc.text, tc.lang)
		if err != nil || d.ISO() != tc.want {
			t.Errorf("%s %q: %v %v, want %s", tc.lang, tc.text, d.ISO(), err, tc.want)
		}
	}
	if len(langs) < 26 {
		t.Errorf("dates in %d languages, want all 26", len(langs))
	}
}

func TestAmbiguousAndInvalidDates(t *testing.T) {
	var amb *AmbiguousDateError
	// Day and month order unknown: both readings.
	if _, err := ParseDate("03/10/2026", ""); !errors.As(err, &amb) || len(amb.Readings) != 2 {
		t.Errorf("03/10/2026 from an unknown writer: %v", err)
	}
	// "listopad" is October in Croatian and November in Polish and Czech.
	if _, err := ParseDate("3 listopad 2026", ""); !errors.As(err, &amb) {
		t.Errorf("listopad from an unknown writer: %v", err)
	}
	if d, err := ParseDate("3 listopad 2026", "pl"); err != nil || d.ISO() != "2026-11-03" {
		t.Errorf("listopad in Polish: %v %v", d, err)
	}
	if d, err := ParseDate("3. listopad 2026", "hr"); err != nil || d.ISO() != "2026-10-03" {
		t.Errorf("listopad in Croatian: %v %v", d, err)
	}
	for _, bad := range []string{"31.02.2026", "2026-13-01", "order 12345", "3.10", "49,95", "page 3 of 2026", "3.10/2026"} {
		if d, err := ParseDate(bad, "de"); err == nil {
			t.Errorf("%q read as %s", bad, d.ISO())
		}
	}
	// Amounts and dates side by side.
	found := FindDates("Bestellt am 3.10.2026 für 49,95 €, Rechnung vom 5. Oktober 2026", "de")
	if len(found) != 2 || found[0][0].ISO() != "2026-10-03" || found[1][0].ISO() != "2026-10-05" {
		t.Errorf("two dates: %+v", found)
	}
}
