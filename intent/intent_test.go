package intent_test

import (
	"strings"
	"testing"

	"parley/intent"
	"parley/locales"
)

func reader(t *testing.T) *intent.Reader {
	t.Helper()
	loc, err := locales.New("en")
	if err != nil {
		t.Fatal(err)
	}
	return intent.NewReader(intent.WordsFrom(loc))
}

// cases are replies as people write them, with what they mean ("" = no
// single intent) and whether they say more than that (a statement without an
// intent, such as "not resolved", is more).
var cases = []struct {
	lang, text string
	want       intent.Kind
	more       bool
}{
	// English
	{"en", "MEDIATION", intent.Mediation, false},
	{"en", "Mediation please.", intent.Mediation, false},
	{"en", "I would like mediation, the shop keeps ignoring me and the kettle is still broken.", intent.Mediation, true},
	{"en", "Yes, I accept this proposal, thank you.", intent.Accept, false},
	{"en", "I don't accept this.", intent.Reject, false},
	{"en", "This is not acceptable.", intent.Reject, false},
	{"en", "It is not resolved.", "", true},
	{"en", "Not resolved. I want mediation.", intent.Mediation, false},
	{"en", "Resolved? No. Please give them more time.", intent.Wait, false},
	{"en", "All sorted out, thanks!", intent.Resolved, false},
	{"en", "I want to withdraw my complaint.", intent.Withdraw, false},
	{"en", "Please undo that, it is not what I meant.", intent.Undo, false},
	{"en", "No mediation please, give them more time.", intent.Wait, false},
	{"en", "Thank you, I will wait for it.", "", true},
	// Dutch
	{"nl", "Bemiddeling graag, 20% korting is niet genoeg.", intent.Mediation, true},
	{"nl", "Akkoord. We sturen het nieuwe apparaat morgen.", intent.Accept, true},
	{"nl", "Niet akkoord.", intent.Reject, false},
	{"nl", "Ik wijs het voorstel af.", intent.Reject, false},
	{"nl", "Het is opgelost, bedankt!", intent.Resolved, false},
	{"nl", "Het is nog steeds niet opgelost.", "", true},
	{"nl", "Ik wil graag nog een termijn geven.", intent.Wait, false},
	{"nl", "ik trek mijn klacht in", intent.Withdraw, false},
	// German
	{"de", "Ich möchte eine Schlichtung.", intent.Mediation, false},
	{"de", "Nicht erledigt, ich möchte eine Schlichtung.", intent.Mediation, false},
	{"de", "Das ist nicht erledigt.", "", true},
	{"de", "Ich bin einverstanden.", intent.Accept, false},
	{"de", "Ich bin nicht einverstanden.", intent.Reject, false},
	{"de", "Ich lehne den Vorschlag ab.", intent.Reject, false},
	{"de", "Bitte noch eine Frist, der Händler hat sich gemeldet.", intent.Wait, true},
	// French
	{"fr", "Je veux une médiation.", intent.Mediation, false},
	{"fr", "Je n'accepte pas cette proposition.", intent.Reject, false},
	{"fr", "Je ne suis pas d'accord.", intent.Reject, false},
	{"fr", "D'accord, merci.", intent.Accept, false},
	{"fr", "C'est résolu, merci beaucoup.", intent.Resolved, false},
	{"fr", "Ce n'est pas résolu.", "", true},
	// Italian
	{"it", "Vorrei la mediazione.", intent.Mediation, false},
	{"it", "Accetto la proposta.", intent.Accept, false},
	{"it", "Non accetto.", intent.Reject, false},
	{"it", "Il problema è risolto, grazie.", intent.Resolved, false},
	{"it", "Non è ancora risolto.", "", true},
	// Polish
	{"pl", "Chcę mediacji.", intent.Mediation, false},
	{"pl", "Zgadzam się.", intent.Accept, false},
	{"pl", "Nie zgadzam się z tą propozycją.", intent.Reject, false},
	{"pl", "Sprawa załatwiona, dziękuję.", intent.Resolved, false},
	{"pl", "Sprawa nie jest rozwiązana.", "", true},
	{"pl", "Wycofuję reklamację bez rozwiązania.", intent.Withdraw, false},
	// Norwegian
	{"nb", "Jeg ønsker mekling.", intent.Mediation, false},
	{"nb", "Jeg godtar forslaget.", intent.Accept, false},
	{"nb", "Jeg er ikke enig.", intent.Reject, false},
	{"nb", "Saken er løst, takk.", intent.Resolved, false},
	{"nb", "Det er ikke løst.", "", true},
	// Two intents: asked back.
	{"en", "Resolved, or maybe mediation, I am not sure.", "", true},
	// None: a message.
	{"en", "When will you send the new kettle?", "", true},
	{"nl", "Wanneer sturen jullie de nieuwe waterkoker?", "", true},
}

func TestReadingReplies(t *testing.T) {
	r := reader(t)
	all := []intent.Kind{intent.Resolved, intent.Mediation, intent.Wait, intent.Withdraw, intent.Accept, intent.Reject, intent.Undo}
	langs := map[string]bool{}
	for _, tc := range cases {
		langs[tc.lang] = true
		rd := r.Read(tc.text, tc.lang)
		got, _ := rd.One(all...)
		if got != tc.want || rd.More != tc.more {
			t.Errorf("%s %q: %q (intents %v) more=%v, want %q more=%v", tc.lang, tc.text, got, rd.Intents, rd.More, tc.want, tc.more)
		}
	}
	for _, l := range []string{"en", "nl", "de", "fr", "it", "pl", "nb"} {
		if !langs[l] {
			t.Errorf("no rows for %s", l)
		}
	}
}

// A word far down a long message is part of the message, not a choice.
func TestOnlyTheOpeningIsRead(t *testing.T) {
	text := "Dear all,\n\nI called the shop twice last week. They promised a new kettle on Monday.\nNothing came on Monday or Tuesday.\n" +
		strings.Repeat("The box was open and the cable was missing. ", 8) + "\nIf this goes on I will ask for mediation."
	if rd := reader(t).Read(text, "en"); len(rd.Intents) != 0 || !rd.More {
		t.Errorf("%+v", rd)
	}
}

// Words counts a short message whole; a long one is counted until it is
// clearly a message (WordsEnough), and the intent in its opening still reads.
func TestWordsCountStopsAtEnough(t *testing.T) {
	r := reader(t)
	sentence := "The parcel left our warehouse on the third and the carrier confirmed it. "
	short := r.Read("I want mediation. "+strings.Repeat(sentence, 3), "en")
	if short.Words != 3*13 || !short.More {
		t.Errorf("short message: %d words, more %v; want 39, true", short.Words, short.More)
	}
	long := r.Read("I want mediation. "+strings.Repeat(sentence, 500), "en")
	if long.Words < intent.WordsEnough || long.Words >= intent.WordsEnough+13 || !long.More {
		t.Errorf("long message: %d words, more %v; want %d to %d", long.Words, long.More, intent.WordsEnough, intent.WordsEnough+12)
	}
	if k, ok := long.One(intent.Mediation, intent.Wait); !ok || k != intent.Mediation {
		t.Errorf("long message read as %v %v", k, ok)
	}
}
