package casestore

import (
	"encoding"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"parley/route"
)

// fill sets every exported field of v to a value that is not zero, so a
// decoder that drops or misreads a field shows. Types with their own JSON
// or text form get a valid value from the caller or stay zero.
func fill(v reflect.Value, depth int) { fillWith(v, depth, "é ✓") }

// fillWith is fill with text as the tail of every string.
func fillWith(v reflect.Value, depth int, text string) {
	if depth > 6 {
		return
	}
	if v.Type() == reflect.TypeOf(time.Time{}) {
		v.Set(reflect.ValueOf(time.Date(2026, 12, 2, 10, 14, 5, 123456789, time.FixedZone("CET", 3600))))
		return
	}
	if v.CanAddr() {
		if _, ok := v.Addr().Interface().(json.Unmarshaler); ok {
			return
		}
		if _, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok && v.Type() != reflect.TypeOf(time.Time{}) {
			return
		}
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString("x-" + v.Type().Name() + " " + text)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if v.Type() == reflect.TypeOf(time.Duration(0)) {
			v.SetInt(int64(90 * time.Second))
		} else {
			v.SetInt(-7)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(7)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(2.5)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fillWith(v.Field(i), depth+1, text)
			}
		}
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := 0; i < 2; i++ {
			fillWith(s.Index(i), depth+1, text)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fillWith(k, depth+1, text)
		fillWith(e, depth+1, text)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fillWith(p.Elem(), depth+1, text)
		v.Set(p)
	}
}

// TestDecodersAgree holds decodeRow (goccy/go-json) to what encoding/json
// reads from the same row, for every kind of row the store keeps, filled
// field by field, and for the zero row.
func TestDecodersAgree(t *testing.T) {
	rows := []any{&Case{}, &Message{}, &Outbound{}, &Event{}, &Job{}, &MailCase{}, &Trader{}, &Mediator{}, &Evidence{}}
	for _, row := range rows {
		for _, filled := range []bool{false, true} {
			v := reflect.New(reflect.TypeOf(row).Elem())
			if filled {
				fill(v.Elem(), 0)
			}
			// Fields with a stored text form of their own get real values.
			switch r := v.Interface().(type) {
			case *Message:
				r.Target = route.Party("K7Q-4M2P", route.Trader)
				r.Role = route.Trader
			}
			raw, err := json.Marshal(v.Interface())
			if err != nil {
				t.Fatalf("%T: %v", row, err)
			}
			std := reflect.New(v.Type().Elem())
			if err := json.Unmarshal(raw, std.Interface()); err != nil {
				t.Fatalf("%T encoding/json: %v", row, err)
			}
			got := reflect.New(v.Type().Elem())
			if err := decodeRow(raw, got.Interface()); err != nil {
				t.Fatalf("%T decodeRow: %v", row, err)
			}
			if !reflect.DeepEqual(std.Interface(), got.Interface()) {
				t.Errorf("%T (filled %v): decoders differ on %s\nencoding/json: %+v\ndecodeRow:     %+v", row, filled, raw, std.Elem().Interface(), got.Elem().Interface())
			}
		}
	}
}

// TestEncodersAgree holds encodeRow (goccy/go-json) to encoding/json byte for
// byte, for every kind of row, empty and filled, with text that each encoder
// escapes in its own way if they differ: HTML, line and paragraph
// separators, control characters and invalid UTF-8.
func TestEncodersAgree(t *testing.T) {
	rows := []any{&Case{}, &Message{}, &Outbound{}, &Event{}, &Job{}, &MailCase{}, &Trader{}, &Mediator{}, &Evidence{}, &Timer{}, &MailFolder{}}
	texts := []string{"é ✓", "<b>&amp;</b> \"q\" \\", "line\u2028para\u2029", "\x00\x01\t\r\n\x7f", "bad \xff\xfe utf-8 \xe2\x82", "emoji 😀 and 🇳🇱"}
	for _, row := range rows {
		for i := -1; i < len(texts); i++ {
			v := reflect.New(reflect.TypeOf(row).Elem())
			if i >= 0 {
				fillWith(v.Elem(), 0, texts[i])
			}
			if m, ok := v.Interface().(*Message); ok {
				m.Target = route.Party("K7Q-4M2P", route.Trader)
				m.Role = route.Trader
			}
			want, err := json.Marshal(v.Interface())
			if err != nil {
				t.Fatalf("%T: %v", row, err)
			}
			got, err := encodeRow(v.Interface())
			if err != nil {
				t.Fatalf("%T encodeRow: %v", row, err)
			}
			if string(got) != string(want) {
				t.Errorf("%T (text %d): encoders differ\nencoding/json: %s\nencodeRow:     %s", row, i, want, got)
			}
		}
	}
}

// BenchmarkRowCodec times both codecs on a filled case row:
// go test -run - -bench RowCodec -count 6 ./casestore | benchstat -col /codec -
func BenchmarkRowCodec(b *testing.B) {
	c := &Case{}
	fill(reflect.ValueOf(c).Elem(), 0)
	raw, err := json.Marshal(c)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("op=encode/codec=encoding-json", func(b *testing.B) {
		for b.Loop() {
			json.Marshal(c)
		}
	})
	b.Run("op=encode/codec=row", func(b *testing.B) {
		for b.Loop() {
			encodeRow(c)
		}
	})
	b.Run("op=decode/codec=encoding-json", func(b *testing.B) {
		for b.Loop() {
			json.Unmarshal(raw, &Case{})
		}
	})
	b.Run("op=decode/codec=row", func(b *testing.B) {
		for b.Loop() {
			decodeRow(raw, &Case{})
		}
	})
}
