// Package translate owns machine translation of what the parties write, so a
// Spanish consumer and a Dutch shop can read each other: one interface and
// three engines speaking their documented HTTP APIs, Apertium's APY
// (https://wiki.apertium.org/wiki/Apertium-apy), LibreTranslate
// (https://libretranslate.com/docs) and DeepL (https://developers.deepl.com).
// Parley never waits longer than the configured timeout and never loses the
// original: a failed translation is reported to the caller, which relays the
// original with a note.
package translate

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Engine translates text between two languages (two-letter ISO 639-1 codes).
type Engine interface {
	Translate(ctx context.Context, text, from, to string) (string, error)
	// Name names the engine in notes and logs.
	Name() string
}

// ErrNoPair means the engine cannot translate between the two languages.
var ErrNoPair = errors.New("no such language pair")

// Config chooses and reaches an engine.
type Config struct {
	Engine  string        // apertium | libretranslate | deepl; "" is off
	URL     string        // the engine's base URL
	APIKey  string        // libretranslate (optional), deepl
	Timeout time.Duration // per translation
}

// New builds the configured engine; nil when translation is off.
func New(cfg Config, hc *http.Client) (Engine, error) {
	if hc == nil {
		hc = &http.Client{}
	}
	url := strings.TrimRight(cfg.URL, "/")
	switch cfg.Engine {
	case "":
		return nil, nil
	case "apertium":
		return &Apertium{url: url, hc: hc}, nil
	case "libretranslate":
		return &LibreTranslate{url: url, key: cfg.APIKey, hc: hc}, nil
	case "deepl":
		if cfg.APIKey == "" {
			return nil, errors.New("translation: deepl needs api_key")
		}
		if url == "" {
			url = "https://api-free.deepl.com"
			if !strings.HasSuffix(cfg.APIKey, ":fx") {
				url = "https://api.deepl.com"
			}
		}
		return &DeepL{url: url, key: cfg.APIKey, hc: hc}, nil
	}
	return nil, fmt.Errorf("translation: engine %q: want apertium, libretranslate or deepl", cfg.Engine)
}

// httpError reports an engine's non-success answer.
func httpError(engine string, resp *http.Response) error {
	return fmt.Errorf("%s: HTTP %d", engine, resp.StatusCode)
}

// maxText bounds what is sent to an engine; longer text is cut at a line
// boundary (the original always follows in full).
const maxText = 20000

func clip(s string) string {
	if len(s) <= maxText {
		return s
	}
	s = s[:maxText]
	if i := strings.LastIndexByte(s, '\n'); i > maxText/2 {
		s = s[:i]
	}
	return s
}
