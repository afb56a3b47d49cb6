package translate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
)

// iso3 maps Parley's language codes to the ISO 639-3 codes APY uses.
var iso3 = map[string]string{"bg": "bul", "cs": "ces", "da": "dan", "de": "deu", "el": "ell", "en": "eng", "es": "spa", "et": "est",
	"fi": "fin", "fr": "fra", "ga": "gle", "hr": "hrv", "hu": "hun", "is": "isl", "it": "ita", "lt": "lit", "lv": "lav", "mt": "mlt",
	"nb": "nob", "nl": "nld", "pl": "pol", "pt": "por", "ro": "ron", "sk": "slk", "sl": "slv", "sv": "swe"}

// Apertium speaks APY's API: GET /listPairs, GET /translate?langpair=spa|eng&q=.
type Apertium struct {
	url string
	hc  *http.Client

	mu      sync.Mutex
	pairs   map[string]bool
	checked time.Time
}

func (a *Apertium) Name() string { return "Apertium" }

// pairsFresh is how long a list of pairs is trusted.
const pairsFresh = 10 * time.Minute

func (a *Apertium) hasPair(ctx context.Context, from, to string) (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.pairs == nil || time.Since(a.checked) > pairsFresh {
		req, err := http.NewRequestWithContext(ctx, "GET", a.url+"/listPairs", nil)
		if err != nil {
			return false, err
		}
		resp, err := a.hc.Do(req)
		if err != nil {
			return false, fmt.Errorf("apertium: %w", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, httpError("apertium", resp)
		}
		var body struct {
			ResponseData []struct {
				Source string `json:"sourceLanguage"`
				Target string `json:"targetLanguage"`
			} `json:"responseData"`
		}
		if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body); err != nil {
			return false, fmt.Errorf("apertium: list of pairs: %w", err)
		}
		a.pairs = map[string]bool{}
		for _, p := range body.ResponseData {
			a.pairs[p.Source+"|"+p.Target] = true
		}
		a.checked = time.Now()
	}
	return a.pairs[iso3[from]+"|"+iso3[to]], nil
}

func (a *Apertium) Translate(ctx context.Context, text, from, to string) (string, error) {
	ok, err := a.hasPair(ctx, from, to)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", ErrNoPair
	}
	q := url.Values{"langpair": {iso3[from] + "|" + iso3[to]}, "q": {clip(text)}, "markUnknown": {"no"}}
	req, err := http.NewRequestWithContext(ctx, "POST", a.url+"/translate", strings.NewReader(q.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := a.hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("apertium: %w", err)
	}
	defer resp.Body.Close()
	var body struct {
		ResponseData struct {
			TranslatedText string `json:"translatedText"`
		} `json:"responseData"`
		ResponseStatus  int    `json:"responseStatus"`
		ResponseDetails string `json:"responseDetails"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&body); err != nil {
		return "", fmt.Errorf("apertium: %w", err)
	}
	if resp.StatusCode != http.StatusOK || body.ResponseStatus != http.StatusOK {
		return "", fmt.Errorf("apertium: %d %s", body.ResponseStatus, body.ResponseDetails)
	}
	return apertiumMarks.ReplaceAllString(body.ResponseData.TranslatedText, "$1$2"), nil
}

// apertiumMarks are Apertium's debug marks that markUnknown=no leaves: "#"
// before a word it could not generate, "@" before one it could not transfer
// ("they #give"). A mark follows a space or an opening sign and precedes a
// letter, so "order #4711" and addresses stay as they are.
var apertiumMarks = regexp.MustCompile(`(^|[\s(\["'¿¡«])[#@](\pL)`)

// LibreTranslate speaks POST /translate {q, source, target, format, api_key}.
type LibreTranslate struct {
	url, key string
	hc       *http.Client
}

func (l *LibreTranslate) Name() string { return "LibreTranslate" }

func (l *LibreTranslate) Translate(ctx context.Context, text, from, to string) (string, error) {
	in := map[string]string{"q": clip(text), "source": from, "target": to, "format": "text"}
	if l.key != "" {
		in["api_key"] = l.key
	}
	if from == "nb" { // LibreTranslate names Norwegian Bokmål "nb"; older servers "no"
		in["source"] = "nb"
	}
	b, _ := json.Marshal(in)
	req, err := http.NewRequestWithContext(ctx, "POST", l.url+"/translate", bytes.NewReader(b))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("libretranslate: %w", err)
	}
	defer resp.Body.Close()
	var body struct {
		TranslatedText string `json:"translatedText"`
		Error          string `json:"error"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&body); err != nil {
		return "", fmt.Errorf("libretranslate: HTTP %d: %w", resp.StatusCode, err)
	}
	if resp.StatusCode == http.StatusBadRequest && strings.Contains(strings.ToLower(body.Error), "not supported") {
		return "", ErrNoPair
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("libretranslate: HTTP %d: %s", resp.StatusCode, body.Error)
	}
	return body.TranslatedText, nil
}

// DeepL speaks POST /v2/translate {text: [..], source_lang, target_lang} with
// the key in the Authorization header.
type DeepL struct {
	url, key string
	hc       *http.Client
}

func (d *DeepL) Name() string { return "DeepL" }

// deeplTarget is the target language code DeepL wants where it differs
// (English and Portuguese need a variant).
var deeplTarget = map[string]string{"en": "EN-GB", "pt": "PT-PT", "nb": "NB"}

func (d *DeepL) Translate(ctx context.Context, text, from, to string) (string, error) {
	target := strings.ToUpper(to)
	if t, ok := deeplTarget[to]; ok {
		target = t
	}
	b, _ := json.Marshal(map[string]any{"text": []string{clip(text)}, "source_lang": strings.ToUpper(from), "target_lang": target})
	req, err := http.NewRequestWithContext(ctx, "POST", d.url+"/v2/translate", bytes.NewReader(b))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "DeepL-Auth-Key "+d.key)
	resp, err := d.hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("deepl: %w", err)
	}
	defer resp.Body.Close()
	var body struct {
		Translations []struct {
			Text string `json:"text"`
		} `json:"translations"`
		Message string `json:"message"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&body); err != nil {
		return "", fmt.Errorf("deepl: HTTP %d: %w", resp.StatusCode, err)
	}
	if resp.StatusCode == http.StatusBadRequest && strings.Contains(strings.ToLower(body.Message), "lang") {
		return "", ErrNoPair
	}
	if resp.StatusCode != http.StatusOK || len(body.Translations) == 0 {
		return "", fmt.Errorf("deepl: HTTP %d: %s", resp.StatusCode, body.Message)
	}
	return body.Translations[0].Text, nil
}
