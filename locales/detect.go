package locales

import (
	"strings"
	"sync"
	"unicode"

	lingua "github.com/pemistahl/lingua-go"
)

// Language detection: which of the supported languages a text is written
// in, with lingua-go (n-gram models, its low-accuracy mode: about 25 MiB for
// these languages, 100% on the test complaints where the high-accuracy mode
// needs about 500 MiB for the same result; whatlanggo, the smaller detector
// tried, read 87%). Maltese, which lingua lacks, is recognised by its
// letters. Languages Parley does not speak are among the candidates too, so
// a Turkish text is said to be Turkish (and written to in English) rather
// than taken for a language it resembles.

// linguaCodes are lingua's languages for Parley's codes.
var linguaCodes = map[string]lingua.Language{"bg": lingua.Bulgarian, "cs": lingua.Czech, "da": lingua.Danish, "de": lingua.German,
	"el": lingua.Greek, "en": lingua.English, "es": lingua.Spanish, "et": lingua.Estonian, "fi": lingua.Finnish, "fr": lingua.French,
	"ga": lingua.Irish, "hr": lingua.Croatian, "hu": lingua.Hungarian, "is": lingua.Icelandic, "it": lingua.Italian,
	"lt": lingua.Lithuanian, "lv": lingua.Latvian, "nb": lingua.Bokmal, "nl": lingua.Dutch, "pl": lingua.Polish,
	"pt": lingua.Portuguese, "ro": lingua.Romanian, "sk": lingua.Slovak, "sl": lingua.Slovene, "sv": lingua.Swedish}

// Unsupported are languages Parley recognises but does not write: a writer
// of one is written to in English with a line in their language saying so.
var Unsupported = map[string]string{
	"tr": "Henüz Türkçe yazamıyoruz; size İngilizce yazıyoruz.",
	"uk": "Ми поки що не пишемо українською; ми пишемо вам англійською.",
	"ru": "Мы пока не пишем по-русски; мы пишем вам по-английски.",
	"ar": "لا نكتب بالعربية بعد؛ نكتب إليك بالإنجليزية.",
	"zh": "我们暂时不能用中文书写，因此用英文给您写信。",
	"sq": "Ende nuk shkruajmë shqip; ju shkruajmë në anglisht.",
	"vi": "Chúng tôi chưa viết được tiếng Việt; chúng tôi viết cho bạn bằng tiếng Anh.",
	"hi": "हम अभी हिंदी में नहीं लिखते; हम आपको अंग्रेज़ी में लिख रहे हैं।",
}

var unsupportedLingua = map[string]lingua.Language{"tr": lingua.Turkish, "uk": lingua.Ukrainian, "ru": lingua.Russian,
	"ar": lingua.Arabic, "zh": lingua.Chinese, "sq": lingua.Albanian, "vi": lingua.Vietnamese, "hi": lingua.Hindi}

// detector is built once per process on first use: its models are read-only.
var detector = sync.OnceValue(func() lingua.LanguageDetector {
	var langs []lingua.Language
	for _, l := range linguaCodes {
		langs = append(langs, l)
	}
	for _, l := range unsupportedLingua {
		langs = append(langs, l)
	}
	return lingua.NewLanguageDetectorBuilder().FromLanguages(langs...).WithLowAccuracyMode().Build()
})

// maltese are letters only Maltese uses among these languages.
const maltese = "ħĦġĠċĊ"

// Detect returns the supported language text is written in, "" when it
// cannot tell. A language Parley recognises but does not speak comes back
// as its code in Unsupported.
func (b *Bundle) Detect(text string) string {
	text = strings.TrimSpace(text)
	if len([]rune(text)) > 2000 {
		text = string([]rune(text)[:2000])
	}
	if text == "" {
		return ""
	}
	if b.Supported("mt") && (strings.ContainsAny(text, maltese) || strings.Contains(strings.ToLower(text), "għ")) {
		return "mt"
	}
	values := detector().ComputeLanguageConfidenceValues(text)
	if len(values) == 0 || values[0].Value() == 0 {
		return b.detectByWords(text)
	}
	// On a line or two lingua's n-grams can tip towards a neighbour ("My
	// order never came." reads as Dutch); when it is unsure, a decisive
	// count of the language's common words settles it.
	code := linguaCode(values[0].Language())
	if values[0].Value() < unsureBelow {
		if byWords := b.detectByWords(text); byWords != "" {
			return byWords
		}
		code = b.mostCommonWords(text, values)
	}
	if _, ok := Unsupported[code]; ok {
		return code
	}
	if b.Supported(code) {
		return code
	}
	return b.detectByWords(text)
}

// unsureBelow is the confidence under which lingua's first choice is checked
// against the common words of the text.
const unsureBelow = 0.8

func linguaCode(l lingua.Language) string {
	if l == lingua.Bokmal {
		return "nb"
	}
	return strings.ToLower(l.IsoCode639_1().String())
}

// mostCommonWords picks among lingua's likelier candidates the one whose
// common words the text uses most; lingua's order breaks ties.
func (b *Bundle) mostCommonWords(text string, values []lingua.ConfidenceValue) string {
	words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) && r != '\'' })
	best, bestHits := linguaCode(values[0].Language()), -1
	for i, v := range values {
		if i == 4 || v.Value() < 0.05 {
			break
		}
		code := linguaCode(v.Language())
		hits := 0
		for _, w := range words {
			if b.commonWords[code][w] {
				hits++
			}
		}
		if hits > bestHits {
			best, bestHits = code, hits
		}
	}
	return best
}
