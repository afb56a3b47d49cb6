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
func fill(v reflect.Value, depth int) {
	if depth > 6 {
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
		v.SetString("x-" + v.Type().Name() + " é ✓")
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
		if v.Type() == reflect.TypeOf(time.Time{}) {
			v.Set(reflect.ValueOf(time.Date(2026, 12, 2, 10, 14, 5, 123456789, time.UTC)))
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), depth+1)
			}
		}
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := 0; i < 2; i++ {
			fill(s.Index(i), depth+1)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k, depth+1)
		fill(e, depth+1)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), depth+1)
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
