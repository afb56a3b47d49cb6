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

// translateFor translates text for the readers of the given roles of case
// c, skipping those who read its language. The text's language is the one
// it is written in, as far as it can be told, else from (the writer's): a
// consumer who chose Spanish may still write in English.
func (e *Engine) translateFor(ctx context.Context, c *casestore.Case, text, from string, readers []route.Role) translated {
	out := translated{}
	if e.translator == nil || strings.TrimSpace(text) == "" {
		return out
	}
	if from = e.textLang(text, from); from == "" {
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

// textLang is the language text is written in, as far as it can be told,
// else fallback.
func (e *Engine) textLang(text, fallback string) string {
	if l := e.loc.Detect(text); l != "" {
		return l
	}
	return fallback
}

// translateForMediators translates the complaint for every registered
// mediator's language before the case opens, so the mediator's briefing,
// made inside a transaction later, finds it in the cache.
func (e *Engine) translateForMediators(ctx context.Context, text, from string) {
	if e.translator == nil || strings.TrimSpace(text) == "" {
		return
	}
	var meds []casestore.Mediator
	e.store.View(func(tx *casestore.Tx) (err error) { meds, err = tx.Mediators(); return err })
	from = e.textLang(text, from)
	done := map[string]bool{from: true}
	for _, m := range meds {
		lang := langOr(m.Lang, e.loc.Default())
		if !done[lang] {
			done[lang] = true
			e.translateText(ctx, text, from, lang)
		}
	}
}

// cachedTranslation fills d's translation of text for a reader of to from
// the cache, inside a transaction (no engine call): a miss is noted as
// unavailable.
func (e *Engine) cachedTranslation(tx *casestore.Tx, d templates.Data, text, from, to string) templates.Data {
	if e.translator == nil || strings.TrimSpace(text) == "" {
		return d
	}
	from = e.textLang(text, from)
	if from == to {
		return d
	}
	d.TranslationFrom = e.loc.LanguageName(to, from)
	if out, ok := tx.Translation(casestore.TranslationKey(e.translator.Name(), from, to, text)); ok {
		d.Translation = out
	} else {
		d.TranslationFailed = true
	}
	return d
}
