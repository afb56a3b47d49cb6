package translate

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"parley/translate/apytest"
)

func TestApertium(t *testing.T) {
	url, _ := apytest.Start(t)
	e, err := New(Config{Engine: "apertium", URL: url}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := e.Translate(ctx, "Quiero mi dinero.", "es", "en")
	if err != nil || !strings.Contains(strings.ToLower(out), "money") || strings.Contains(out, "*") {
		t.Fatalf("es->en: %q %v", out, err)
	}
	if out, err := e.Translate(ctx, "I want my money back.", "en", "es"); err != nil || !strings.Contains(strings.ToLower(out), "dinero") {
		t.Fatalf("en->es: %q %v", out, err)
	}
	if _, err := e.Translate(ctx, "Hallo", "de", "pl"); !errors.Is(err, ErrNoPair) {
		t.Fatalf("a pair APY lacks: %v", err)
	}
}

// LibreTranslate and DeepL are tested against local servers that answer in
// their documented wire formats.
func TestLibreTranslateWireFormat(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in map[string]string
		if r.URL.Path != "/translate" || r.Method != "POST" || json.NewDecoder(r.Body).Decode(&in) != nil {
			http.Error(w, `{"error":"bad request"}`, http.StatusBadRequest)
			return
		}
		if in["source"] == "ga" {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"error": "ga is not supported"})
			return
		}
		if in["api_key"] != "k" || in["format"] != "text" {
			w.WriteHeader(http.StatusForbidden)
			json.NewEncoder(w).Encode(map[string]string{"error": "Invalid API key"})
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"translatedText": "[" + in["source"] + ">" + in["target"] + "] " + in["q"]})
	}))
	defer srv.Close()
	e, _ := New(Config{Engine: "libretranslate", URL: srv.URL, APIKey: "k"}, srv.Client())
	if out, err := e.Translate(context.Background(), "hola", "es", "nl"); err != nil || out != "[es>nl] hola" {
		t.Fatalf("%q %v", out, err)
	}
	if _, err := e.Translate(context.Background(), "dia duit", "ga", "en"); !errors.Is(err, ErrNoPair) {
		t.Fatalf("unsupported language: %v", err)
	}
	bad, _ := New(Config{Engine: "libretranslate", URL: srv.URL, APIKey: "wrong"}, srv.Client())
	if _, err := bad.Translate(context.Background(), "hola", "es", "nl"); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("refused key: %v", err)
	}
}

func TestDeepLWireFormat(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Text       []string `json:"text"`
			SourceLang string   `json:"source_lang"`
			TargetLang string   `json:"target_lang"`
		}
		if r.URL.Path != "/v2/translate" || r.Header.Get("Authorization") != "DeepL-Auth-Key secret:fx" {
			w.WriteHeader(http.StatusForbidden)
			json.NewEncoder(w).Encode(map[string]string{"message": "Wrong endpoint or key"})
			return
		}
		if json.NewDecoder(r.Body).Decode(&in) != nil || len(in.Text) != 1 {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if in.SourceLang == "GA" {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"message": "Value for 'source_lang' not supported."})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"translations": []map[string]string{{"detected_source_language": in.SourceLang,
			"text": "[" + in.SourceLang + ">" + in.TargetLang + "] " + in.Text[0]}}})
	}))
	defer srv.Close()
	e, _ := New(Config{Engine: "deepl", URL: srv.URL, APIKey: "secret:fx"}, srv.Client())
	if out, err := e.Translate(context.Background(), "hola", "es", "en"); err != nil || out != "[ES>EN-GB] hola" {
		t.Fatalf("%q %v", out, err)
	}
	if _, err := e.Translate(context.Background(), "dia duit", "ga", "en"); !errors.Is(err, ErrNoPair) {
		t.Fatalf("unsupported language: %v", err)
	}
	if _, err := New(Config{Engine: "deepl"}, nil); err == nil {
		t.Fatal("deepl without a key accepted")
	}
}

// Apertium's "#" and "@" marks never reach a reader; an order number or an
// address keeps its sign.
func TestApertiumMarksRemoved(t *testing.T) {
	for in, want := range map[string]string{
		"I want that they #give the money":   "I want that they give the money",
		"@Envío broken, (#roto) here":        "Envío broken, (roto) here",
		"order #4711 from shop@acme.example": "order #4711 from shop@acme.example",
		"¿#Dónde está?":                      "¿Dónde está?",
	} {
		if got := apertiumMarks.ReplaceAllString(in, "$1$2"); got != want {
			t.Errorf("%q -> %q, want %q", in, got, want)
		}
	}
}
