package main

import (
	"bytes"
	"net/mail"
	"strconv"
	"sync"
	"time"

	"parley/bench/internal/mailsink"
)

const (
	consumer = "jan@consumer.example"
	trader   = "support@acme.example"
	// markerPrefix and markerDigits make the marker each reply carries:
	// LATENCY-00000042 is the reply due 42nd.
	markerPrefix = "LATENCY-"
	markerDigits = 8
)

// sink is the daemon's smarthost. It notes when each relay to the consumer
// arrives, by the marker it carries, and learns the case's reply address
// from the trader's notice.
type sink struct {
	srv   *mailsink.Sink
	addr  string
	clock func() time.Time

	mu       sync.Mutex
	arrivals map[int][]time.Time // marker number -> when each relay with it arrived
	stray    int                 // malformed markers in relays to the consumer
	replyTo  string              // the case's trader reply address (Reply-To of the trader's notice)
	changed  chan struct{}       // a token after each message (capacity 1)
}

// startSink listens on a free loopback port.
func startSink(clock func() time.Time) (*sink, error) {
	s := &sink{clock: clock, arrivals: map[int][]time.Time{}, changed: make(chan struct{}, 1)}
	srv, addr, err := mailsink.Listen("127.0.0.1:0", s.deliver)
	if err != nil {
		return nil, err
	}
	s.srv, s.addr = srv, addr.String()
	return s, nil
}

func (s *sink) close() { s.srv.Close() }

// deliver takes one message: a relay to the consumer is noted by its
// markers, with the time it arrived; the trader's notice gives the case
// address.
func (s *sink) deliver(rcpts []string, raw []byte) {
	at := s.clock()
	var markers []int
	var stray int
	var replyTo string
	for _, rc := range rcpts {
		switch rc {
		case consumer:
			markers, stray = findMarkers(raw)
		case trader:
			if m, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
				if a, err := mail.ParseAddress(m.Header.Get("Reply-To")); err == nil {
					replyTo = a.Address
				}
			}
		}
	}
	s.mu.Lock()
	for _, m := range markers {
		s.arrivals[m] = append(s.arrivals[m], at)
	}
	s.stray += stray
	if replyTo != "" && s.replyTo == "" {
		s.replyTo = replyTo
	}
	s.mu.Unlock()
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// traderReplyTo is the case address learnt from the trader's notice, or "".
func (s *sink) traderReplyTo() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.replyTo
}

// missing counts the acked messages (acked[i] true) with no relay yet.
func (s *sink) missing(acked []bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for i, a := range acked {
		if a && len(s.arrivals[i]) == 0 {
			n++
		}
	}
	return n
}

// snapshot copies what arrived so far.
func (s *sink) snapshot() (map[int][]time.Time, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[int][]time.Time, len(s.arrivals))
	for k, v := range s.arrivals {
		out[k] = append([]time.Time(nil), v...)
	}
	return out, s.stray
}

// findMarkers returns the distinct marker numbers in a message (relays are
// quoted-printable: soft line breaks are taken out first), and how many
// markers were not well formed.
func findMarkers(raw []byte) ([]int, int) {
	raw = bytes.ReplaceAll(raw, []byte("=\r\n"), nil)
	var out []int
	bad := 0
	seen := map[int]bool{}
	for {
		i := bytes.Index(raw, []byte(markerPrefix))
		if i < 0 {
			return out, bad
		}
		raw = raw[i+len(markerPrefix):]
		if len(raw) < markerDigits {
			return out, bad + 1
		}
		n, err := strconv.Atoi(string(raw[:markerDigits]))
		if err != nil {
			bad++
			continue
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
}
