package smtpd

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"parley/casestore"
	"parley/evidence"
	"parley/route"
	"parley/threading"
)

type session struct {
	srv      *Server
	conn     *smtp.Conn
	log      *slog.Logger
	helo     string
	remote   string
	mailFrom string
	rcpts    []rcpt
	accepted int // messages answered 2xx, for the session metric
	// overTLS: the session began on a TLS connection (implicit TLS, or
	// after STARTTLS, when go-smtp starts a new session).
	overTLS bool
}

type rcpt struct {
	addr   string
	target route.Target
}

var _ smtp.Session = (*session)(nil)

// Internal failures: the sender keeps the message and tries again.
func tempFail(log *slog.Logger, what string, err error) error {
	log.Error(what, "err", err)
	return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary local problem, please try again later"}
}

func (s *session) Reset() {
	s.mailFrom, s.rcpts = "", nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.Reset()
	if from != "" && !evidence.ValidAddress(from) {
		s.log.Info("sender refused", "from", fmt.Sprintf("%q", from))
		return &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 1, 7}, Message: "Bad sender address syntax"}
	}
	if err := s.roomForMail(); err != nil {
		return err
	}
	s.mailFrom = from
	return nil
}

var (
	errNoRelay = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
		Message: "Relaying denied: this server only accepts mail for its own domain"}
)

// noMailbox refuses an unknown or forged local part, saying where to write.
func (s *session) noMailbox() error {
	return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1},
		Message: "No such address here. To file a complaint write to complaints@" + s.srv.cfg.Domain + "; to answer in a case, reply to the message you received"}
}

// Rcpt resolves the recipient now, so a bad address is refused before DATA.
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	target, err := s.targetOf(to)
	if err != nil {
		return err
	}
	s.addRcpt(to, target)
	return nil
}

// targetOf resolves a recipient to its target, or the SMTP error to answer.
func (s *session) targetOf(to string) (route.Target, error) {
	local, domain, ok := splitAddress(to)
	if !ok {
		return route.Target{}, &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "Bad recipient address syntax"}
	}
	if !strings.EqualFold(domain, s.srv.cfg.Domain) {
		s.log.Info("relay denied", "rcpt", to)
		return route.Target{}, errNoRelay
	}
	target, err := s.resolve(strings.ToLower(local))
	if err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			s.log.Info("recipient refused", "rcpt", to, "reason", se.Message)
			return route.Target{}, se
		}
		return route.Target{}, tempFail(s.log, "resolve recipient", err)
	}
	return target, nil
}

// addRcpt records a resolved recipient; the same target twice is one delivery.
func (s *session) addRcpt(to string, target route.Target) {
	for _, r := range s.rcpts {
		if r.target == target {
			return
		}
	}
	s.rcpts = append(s.rcpts, rcpt{addr: to, target: target})
}

func (s *session) resolve(local string) (route.Target, error) {
	// A complaint address may choose the language: acme.es@, complaints.pl@.
	if base, lang, ok := strings.Cut(local, "."); ok && len(lang) == 2 && lang == strings.ToLower(lang) {
		switch t, err := s.resolve(base); {
		case err == nil && t.Kind == route.KindIntake:
			return route.IntakeIn(t.Handle, lang), nil
		}
	}
	switch local {
	case "complaints":
		return route.Complaints(), nil
	case "postmaster", "abuse":
		return route.Postmaster(), nil
	}
	tok, err := s.srv.keys.Parse(local)
	if errors.Is(err, threading.ErrBadTag) {
		return route.Target{}, s.noMailbox()
	}
	if err != nil {
		return route.Target{}, err
	}
	var target route.Target
	err = s.srv.store.View(func(tx *casestore.Tx) error {
		switch tok.Kind {
		case threading.KindParty:
			if tx.CaseExists(tok.CaseID) {
				target = route.Party(tok.CaseID, tok.Role)
			}
		case threading.KindChoice:
			if tx.CaseExists(tok.CaseID) {
				target = route.ChoiceOf(tok.CaseID, tok.Choice)
			}
		case threading.KindBounce:
			target = route.Bounce(tok.Outbound)
		default:
			if _, err := tx.Trader(local); err == nil {
				target = route.Intake(local)
			}
		}
		return nil
	})
	if err != nil {
		return route.Target{}, err
	}
	if target.Kind == route.KindNone {
		return route.Target{}, s.noMailbox()
	}
	return target, nil
}

func splitAddress(addr string) (local, domain string, ok bool) {
	i := strings.LastIndexByte(addr, '@')
	if i <= 0 || i == len(addr)-1 || len(addr) > 320 {
		return "", "", false
	}
	return addr[:i], addr[i+1:], true
}

// data stores the message durably and commits its rows and jobs before 250.
func (s *session) data(r io.Reader) error {
	start := time.Now()
	if cc := countedOf(s.conn.Conn()); cc != nil {
		cc.Conn.SetReadDeadline(start.Add(s.srv.cfg.DataTimeout)) // not a command: not counted
	} else {
		s.conn.Conn().SetReadDeadline(start.Add(s.srv.cfg.DataTimeout))
	}
	tlsState, tlsOn := s.conn.TLSConnectionState()
	var watch *bareWatch
	if cc := countedOf(s.conn.Conn()); cc != nil {
		watch = cc.watch(tlsOn)
	}
	if watch != nil {
		watch.begin(bufferedOf(s.conn, s.log))
	} else if tlsOn {
		s.log.Warn("no plaintext watcher under STARTTLS; only the strict reader checks line endings")
	}
	sr := newStrictReader(r, s.srv.cfg.MaxHeaderSize, s.srv.cfg.MaxLineLength)

	// Small messages stay in memory and go inline into the group commit; a
	// message that outgrows InlineMax is streamed to a blob file, fsynced
	// before the commit that names it.
	var buf bytes.Buffer
	var blob *casestore.Writer
	defer func() {
		if blob != nil {
			blob.Abort()
		}
	}()
	hash := sha256.New()
	chunk := s.srv.chunk()
	defer s.srv.chunks.Put(&chunk)
	var size int64
	for {
		n, err := sr.Read(chunk)
		if n > 0 {
			size += int64(n)
			hash.Write(chunk[:n])
			if blob == nil && buf.Len()+n > casestore.InlineMax {
				if blob, err = s.srv.store.Blobs.Create(); err != nil {
					return tempFail(s.log, "spool", err)
				}
				if _, err := blob.Write(buf.Bytes()); err != nil {
					return tempFail(s.log, "spool", err)
				}
				buf.Reset()
			}
			if blob != nil {
				if _, werr := blob.Write(chunk[:n]); werr != nil {
					return tempFail(s.log, "spool", werr)
				}
			} else {
				buf.Write(chunk[:n])
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			var se *smtp.SMTPError
			if errors.As(err, &se) {
				s.log.Info("message refused", "reason", se.Message)
				return se
			}
			if errors.Is(err, smtp.ErrDataTooLarge) {
				return err
			}
			if strings.Contains(err.Error(), "too long a line") {
				// go-smtp's own line limit fired first: the same permanent answer.
				s.log.Info("message refused", "reason", "line too long")
				return errLineTooLong
			}
			s.log.Info("data transfer failed", "err", err)
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "Connection problem during DATA, please try again"}
		}
	}
	if watch != nil && watch.end(bufferedOf(s.conn, s.log)) {
		s.log.Info("message refused", "reason", "bare CR in dot line")
		return errBareLineEnding
	}
	sum := hex.EncodeToString(hash.Sum(nil))
	if blob != nil {
		got, _, err := blob.Commit()
		if err != nil {
			return tempFail(s.log, "spool fsync", err)
		}
		if got != sum {
			return tempFail(s.log, "spool", fmt.Errorf("digest mismatch %s != %s", got, sum))
		}
	}
	msgID := headerMessageID(sr.headerBlock())

	var jobs []casestore.Job
	var ids []uint64
	now := s.srv.store.Now()
	err := s.srv.store.Update(func(tx *casestore.Tx) error {
		jobs, ids = jobs[:0], ids[:0]
		if blob == nil {
			if err := tx.PutRawInline(sum, buf.Bytes()); err != nil {
				return err
			}
		}
		for _, rc := range s.rcpts {
			var key string
			if msgID != "" {
				key = casestore.DedupKey(rc.target.String(), msgID, sum)
				if prev := tx.Dedup(key); prev != 0 {
					ids = append(ids, prev)
					continue
				}
			}
			id, err := tx.NextMessageID()
			if err != nil {
				return err
			}
			m := &casestore.Message{
				ID: id, Received: now, RemoteAddr: s.remote, Helo: s.helo, MailFrom: s.mailFrom,
				Rcpt: rc.addr, Target: rc.target, MessageID: msgID, Size: size, SHA256: sum,
			}
			if tlsOn {
				m.TLS, m.TLSVersion, m.TLSCipher = true, tls.VersionName(tlsState.Version), tls.CipherSuiteName(tlsState.CipherSuite)
			}
			if err := tx.PutMessage(m); err != nil {
				return err
			}
			if _, err := tx.RefRaw(sum, 1); err != nil {
				return err
			}
			if key != "" {
				if err := tx.SetDedup(key, id); err != nil {
					return err
				}
			}
			j := casestore.Job{Kind: casestore.JobIngest, Message: id, Shard: rc.target.Shard(s.mailFrom)}
			if err := tx.AddJob(&j); err != nil {
				return err
			}
			jobs = append(jobs, j)
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return tempFail(s.log, "commit message", err)
	}
	s.srv.jobs.Submit(jobs...)
	queued := make([]string, len(ids))
	for i, id := range ids {
		queued[i] = strconv.FormatUint(id, 10)
	}
	s.log.Info("message accepted", "from", s.mailFrom, "rcpts", len(s.rcpts), "size", size, "ids", strings.Join(queued, ","),
		"duplicate", len(jobs) < len(ids), "ms", time.Since(start).Milliseconds())
	if cc := countedOf(s.conn.Conn()); cc != nil {
		cc.messageAccepted()
	}
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "Ok: queued as " + strings.Join(queued, ",")}
}

// headerMessageID reads Message-ID from the header block, or "".
func headerMessageID(header []byte) string {
	m, err := mail.ReadMessage(io.MultiReader(bytes.NewReader(header), strings.NewReader("\r\n")))
	if err != nil {
		return ""
	}
	id := strings.TrimSpace(m.Header.Get("Message-Id"))
	if len(id) > 998 {
		return ""
	}
	return id
}
