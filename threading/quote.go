package threading

import (
	"regexp"
	"strings"
)

// Reply headers that mail clients put above quoted history, in the languages
// Parley supports. Each pattern matches one line (or the start of a wrapped one).
var attributionRes = []*regexp.Regexp{
	// Gmail, Thunderbird, Apple Mail: "On <date>, <name> wrote:" and translations.
	// (No \b after the verb: Go's \b is ASCII, and "escribió:" ends in ó.)
	regexp.MustCompile(`(?i)^\s*(on|am|op|le|il|il giorno|w dniu|den|på|el|em|dne|dňa|dana|dne|în|la|на|στις|kuupäeval|ma|ti|to|ke|pe|su|la|the|an|þann|fil-)\s.{0,250}\b(` + attributionVerbs + `)(\P{L}.{0,250})?:\s*$`),
	regexp.MustCompile(`(?i)^\s*.{0,200}\s(` + attributionVerbs + `|napisał\(a\))\s*:\s*$`),
	// Outlook, Outlook.com, many webmails.
	regexp.MustCompile(`(?i)^\s*-{2,}\s*(original message|ursprüngliche nachricht|oorspronkelijk bericht|message d'origine|messaggio originale|wiadomość oryginalna|oprinnelig melding|opprinnelig melding|forwarded message|weitergeleitete nachricht|doorgestuurd bericht|message transféré)\s*-{2,}\s*$`),
	regexp.MustCompile(`^\s*_{20,}\s*$`),
}

// attributionVerbs are "wrote" in the languages Parley speaks, as mail
// clients write it in their reply headers.
const attributionVerbs = `wrote|schrieb|schreef|a écrit|ha scritto|napisał|napisała|pisze|skrev|escribió|escreveu|napsal|napsala|napísal|napísala|kirjoitti|írta|a scris|έγραψε|написа|napisao|napisala|napisal|kirjutas|rašė|rakstīja|kiteb|scríobh|skrifaði`

// Outlook's header block: "From: x" followed within a few lines by "Sent: y".
var (
	outlookFrom = regexp.MustCompile(`(?i)^\s*\*?(from|von|van|de|da|od|fra)\s*:\*?\s`)
	outlookSent = regexp.MustCompile(`(?i)^\s*\*?(sent|date|gesendet|verzonden|envoyé|inviato|wysłane|sendt|datum|data|date)\s*:\*?\s`)
)

// StripQuoted returns the new text of a reply: everything above the first
// attribution line or quoted block, without a trailing "-- " signature. If
// stripping would leave nothing, the text is returned trimmed but whole, so a
// reply written inline between quotes is never lost.
func StripQuoted(text string) string {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	lines := strings.Split(text, "\n")
	cut := len(lines)
	for i, line := range lines {
		// A header line of a forwarded or Outlook-quoted message has a colon:
		// the regexp runs only on those lines.
		if isAttribution(line) || (strings.IndexByte(line, ':') >= 0 && outlookFrom.MatchString(line) && sentFollows(lines[i+1:])) {
			cut = i
			break
		}
		// A joined two-line attribution ("On Mon, ... <x@y>\nwrote:"); the
		// lines are joined only when the first one starts so.
		if i+1 < len(lines) && len(line) < 200 && strings.HasPrefix(strings.TrimSpace(line), "On ") && isAttribution(line+" "+lines[i+1]) {
			cut = i
			break
		}
		if strings.HasPrefix(line, ">") {
			// Quoted block: only history if nothing but quotes and blanks follow.
			if onlyQuotesAfter(lines[i:]) {
				cut = i
				break
			}
		}
	}
	out := lines[:cut]
	for i, line := range out {
		if line == "-- " || line == "--" {
			out = out[:i]
			break
		}
	}
	s := strings.TrimSpace(strings.Join(out, "\n"))
	if s == "" {
		return strings.TrimSpace(text)
	}
	return s
}

func isAttribution(line string) bool {
	// Every attribution line ends with a colon or is a rule of dashes or
	// underscores; checking that first keeps the regexps off ordinary lines.
	t := strings.TrimSpace(line)
	if !strings.HasSuffix(t, ":") && !strings.Contains(t, "--") && !strings.HasPrefix(t, "___") {
		return false
	}
	for _, re := range attributionRes {
		if re.MatchString(line) {
			return true
		}
	}
	return false
}

func sentFollows(lines []string) bool {
	for i := 0; i < len(lines) && i < 4; i++ {
		if outlookSent.MatchString(lines[i]) {
			return true
		}
	}
	return false
}

func onlyQuotesAfter(lines []string) bool {
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t != "" && !strings.HasPrefix(t, ">") {
			return false
		}
	}
	return true
}
