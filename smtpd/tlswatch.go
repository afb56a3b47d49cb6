package smtpd

import (
	"bufio"
	"crypto/tls"
	"io"
	"log/slog"
	"reflect"
	"unsafe"

	"github.com/emersion/go-smtp"
)

// watchPlaintext places a bare CR/LF watcher on the plaintext of a session
// that has just turned on STARTTLS, where the socket watcher only sees
// ciphertext. go-smtp wraps our connection in a *tls.Conn itself and offers
// no hook on the bytes it reads, so this reaches into its Conn: the reader
// under its line reader (lineLimitReader.R) becomes ours, reading the
// *tls.Conn. It runs from Logout, which go-smtp calls right after the
// handshake and before it reads any plaintext, and again from NewSession for
// a client that sent STARTTLS before EHLO. If go-smtp changes shape, nothing
// is placed, an error is logged, and the strict reader alone checks the
// data; TestSmugglingOverSTARTTLSRefused fails then.
func watchPlaintext(c *smtp.Conn, log *slog.Logger) {
	tc, ok := c.Conn().(*tls.Conn)
	if !ok {
		return
	}
	cc, _ := tc.NetConn().(*countedConn)
	if cc == nil || cc.plain.Load() != nil {
		return
	}
	field, ok := lineReaderField(c)
	if !ok {
		log.Error("cannot watch the plaintext under STARTTLS: go-smtp's Conn changed shape")
		return
	}
	w := &bareWatch{}
	inner := field.Interface().(io.Reader)
	field.Set(reflect.ValueOf(io.Reader(watchedReader{r: inner, w: w})))
	cc.plain.Store(w)
}

// lineReaderField is go-smtp's Conn.lineLimitReader.R, settable.
func lineReaderField(c *smtp.Conn) (reflect.Value, bool) {
	llr := reflect.ValueOf(c).Elem().FieldByName("lineLimitReader")
	if !llr.IsValid() || llr.Kind() != reflect.Pointer || llr.IsNil() {
		return reflect.Value{}, false
	}
	r := llr.Elem().FieldByName("R")
	if !r.IsValid() || r.Type() != reflect.TypeFor[io.Reader]() {
		return reflect.Value{}, false
	}
	return reflect.NewAt(r.Type(), unsafe.Pointer(r.UnsafeAddr())).Elem(), true
}

// watchedReader passes reads through and shows them to a watcher.
type watchedReader struct {
	r io.Reader
	w *bareWatch
}

func (wr watchedReader) Read(p []byte) (int, error) {
	n, err := wr.r.Read(p)
	wr.w.see(p[:n])
	return n, err
}

// bufferedOf is how many bytes go-smtp's reader holds that it read from
// beneath but has not handed on yet (Conn.text.Reader.R.Buffered()), so the
// watchers can tell DATA's bytes from the commands pipelined around it. If
// go-smtp changes shape it logs an error and answers 0, and a message sent
// without waiting for 354 escapes the watcher (the tests of pipelined
// smuggling fail then).
func bufferedOf(c *smtp.Conn, log *slog.Logger) int {
	text := reflect.ValueOf(c).Elem().FieldByName("text")
	if !text.IsValid() || text.Kind() != reflect.Pointer {
		log.Error("cannot see go-smtp's read buffer: its Conn changed shape")
		return 0
	}
	text = reflect.NewAt(text.Type(), unsafe.Pointer(text.UnsafeAddr())).Elem()
	if text.IsNil() {
		return 0
	}
	r, ok := text.Elem().FieldByName("R").Interface().(*bufio.Reader)
	if !ok || r == nil {
		log.Error("cannot see go-smtp's read buffer: its Conn changed shape")
		return 0
	}
	return r.Buffered()
}
