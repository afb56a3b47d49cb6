package procedure

import (
	"context"
	"errors"
	"strings"

	"parley/casestore"
	"parley/route"
	"parley/templates"
	"parley/translate"
)

// Machine translation between the parties: what a party writes reaches a
// reader of another language with a labelled machine translation first and
// the original below, unchanged. Translations are made before the
// transaction that queues the relay (an engine is a network call), cached in
// the store, bounded by the configured timeout, and never hold back or lose
// the original.

// translation is a text in one reader's language.
type translation struct {
	text   string // "": none
	from   string // the writer's language
	failed bool   // a translation was wanted and none could be made
}

// translated are a text's translations by reader language.
type translated map[string]translation

// data fills a relay's translation fields for a reader of lang.
func (t translated) data(d templates.Data, e *Engine, lang string) templates.Data {
	tr, ok := t[lang]
	if !ok || (tr.text == "" && !tr.failed) {
		return d
	}
	d.Translation, d.TranslationFailed = tr.text, tr.failed
	d.TranslationFrom = e.loc.LanguageName(lang, tr.from)
	return d
}

// translateFor translates text written in from for the readers of the
// given roles of case c, skipping those who read from.
func (e *Engine) translateFor(ctx context.Context, c *casestore.Case, text, from string, readers []route.Role) translated {
	out := translated{}
	if e.translator == nil || strings.TrimSpace(text) == "" || from == "" {
		return out
	}
	for _, r := range readers {
		p := c.PartyByRole(r)
		if p == nil || p.Email == "" || p.Lang == "" || p.Lang == from {
			continue
		}
		if _, done := out[p.Lang]; !done {
			out[p.Lang] = e.translateText(ctx, text, from, p.Lang)
		}
	}
	return out
}

// translateText asks the cache, then the engine.
func (e *Engine) translateText(ctx context.Context, text, from, to string) translation {
	key := casestore.TranslationKey(e.translator.Name(), from, to, text)
	var cached string
	var ok bool
	e.store.View(func(tx *casestore.Tx) error { cached, ok = tx.Translation(key); return nil })
	if ok {
		return translation{text: cached, from: from}
	}
	ctx, cancel := context.WithTimeout(ctx, e.translateTimeout)
	defer cancel()
	out, err := e.translator.Translate(ctx, text, from, to)
	if err != nil || strings.TrimSpace(out) == "" {
		if !errors.Is(err, translate.ErrNoPair) {
			e.log.Warn("machine translation failed; the original is relayed with a note", "engine", e.translator.Name(), "from", from, "to", to, "err", err)
		}
		return translation{from: from, failed: true}
	}
	if err := e.store.Update(func(tx *casestore.Tx) error { return tx.PutTranslation(key, out, e.now()) }); err != nil {
		e.log.Warn("cache machine translation", "err", err)
	}
	return translation{text: out, from: from}
}
