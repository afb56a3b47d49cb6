package outbound

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"parley/casestore"
)

// Maildir writes each message into a Maildir (tmp, fsync, rename into new,
// fsync new), for development and for operators who pick mail up themselves.
// The file name is derived from the outbound id, so delivering a row twice
// (after a crash between delivery and recording it) leaves one file.
type Maildir struct {
	Dir string
}

var _ Transport = (*Maildir)(nil)

// Deliver writes o with Return-Path and Delivered-To headers carrying the envelope.
func (m *Maildir) Deliver(ctx context.Context, o *casestore.Outbound, raw io.Reader) error {
	for _, sub := range []string{"tmp", "new", "cur"} {
		if err := os.MkdirAll(filepath.Join(m.Dir, sub), 0o700); err != nil {
			return fmt.Errorf("maildir %s: %w", m.Dir, err)
		}
	}
	name := fmt.Sprintf("%d.P%d.parley", o.Created.Unix(), o.ID)
	tmp := filepath.Join(m.Dir, "tmp", name)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("maildir write: %w", err)
	}
	// Maildir files use the local line ending (LF), as mutt and Dovecot expect.
	_, err = fmt.Fprintf(f, "Return-Path: <%s>\nDelivered-To: %s\n", o.MailFrom, o.To)
	if err == nil {
		_, err = io.Copy(&lfWriter{w: f}, raw)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("maildir write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, filepath.Join(m.Dir, "new", name)); err != nil {
		return fmt.Errorf("maildir deliver: %w", err)
	}
	d, err := os.Open(filepath.Join(m.Dir, "new"))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Close does nothing: a Maildir holds no connection.
func (m *Maildir) Close() error { return nil }

// lfWriter turns CRLF into LF on the way through.
type lfWriter struct {
	w      io.Writer
	pendCR bool
}

func (l *lfWriter) Write(p []byte) (int, error) {
	out := make([]byte, 0, len(p)+1)
	for _, c := range p {
		if l.pendCR {
			l.pendCR = false
			if c != '\n' {
				out = append(out, '\r')
			}
		}
		if c == '\r' {
			l.pendCR = true
			continue
		}
		out = append(out, c)
	}
	if _, err := l.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}
