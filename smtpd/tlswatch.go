package smtpd

import (
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
