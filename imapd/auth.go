package imapd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"parley/casestore"
	"parley/metrics"
	"parley/password"
	"parley/peer"
)

// AuthConfig bounds login attempts. Zero values take the defaults.
type AuthConfig struct {
	// MaxFailuresPerAddr is how many failed logins one address (an IPv4
	// address or an IPv6 /64) may make within Window; default 10.
	MaxFailuresPerAddr int
	// MaxFailuresPerAccount is the same per mediator account; default 10.
	MaxFailuresPerAccount int
	// Window is the sliding window of both limits; default 15 minutes.
	Window time.Duration
	// FailDelay is how long a failed attempt waits before it is answered;
	// default 500ms. Negative means no delay.
	FailDelay time.Duration
	// MaxConcurrent bounds parallel argon2id checks (64 MiB each); default 4.
	MaxConcurrent int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Metrics counts logins; nil counts nothing.
	Metrics *metrics.IMAP
}

// Errors of Authenticator.Login.
var (
	ErrBadCredentials = errors.New("unknown account or wrong password")
	ErrRateLimited    = errors.New("too many failed logins")
)

// RateLimitError says how long to wait before trying again.
type RateLimitError struct{ Wait time.Duration }

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("too many failed logins: try again in %s", e.Wait.Round(time.Second))
}

// Is makes errors.Is(err, ErrRateLimited) true.
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

// Authenticator checks mediator credentials for IMAP and SMTP submission,
// with in-memory rate limits on failures per remote address and per account.
type Authenticator struct {
	store   *casestore.Store
	cfg     AuthConfig
	log     *slog.Logger
	byAddr  *limiter
	byUser  *limiter
	slots   chan struct{}
	dummyMu sync.Once
	dummy   string // a hash to verify against for unknown accounts
}

// NewAuthenticator builds an authenticator over the store's mediators.
func NewAuthenticator(store *casestore.Store, cfg AuthConfig, log *slog.Logger) *Authenticator {
	if cfg.MaxFailuresPerAddr <= 0 {
		cfg.MaxFailuresPerAddr = 10
	}
	if cfg.MaxFailuresPerAccount <= 0 {
		cfg.MaxFailuresPerAccount = 10
	}
	if cfg.Window <= 0 {
		cfg.Window = 15 * time.Minute
	}
	if cfg.FailDelay == 0 {
		cfg.FailDelay = 500 * time.Millisecond
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = 4
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Authenticator{
		store: store, cfg: cfg, log: log,
		byAddr: newLimiter(cfg.MaxFailuresPerAddr, cfg.Window, cfg.Now),
		byUser: newLimiter(cfg.MaxFailuresPerAccount, cfg.Window, cfg.Now),
		slots:  make(chan struct{}, cfg.MaxConcurrent),
	}
}

// Login checks a mediator's address and password from remote. It returns the
// mediator's address as registered, ErrBadCredentials, or a *RateLimitError.
// The password is never logged.
func (a *Authenticator) Login(ctx context.Context, remote net.Addr, username, pw string) (string, error) {
	user := casestore.NormalizeEmail(username)
	ak, uk := peer.Key(remote), "user:"+user
	if peer.IsLoopback(remote) {
		// Every local client (a webmail, a proxy, the mediators' own machine)
		// shares 127.0.0.1: counting it as one address would let one
		// mistyped password lock out every mediator.
		ak += "|" + uk
	}
	overAddr, waitAddr := a.byAddr.blocked(ak)
	overUser, waitUser := a.byUser.blocked(uk)
	if overAddr || overUser {
		wait := max(waitAddr, waitUser)
		a.log.Warn("login refused: rate limit", "user", logUser(user), "remote", remote.String(),
			"by_address", overAddr, "by_account", overUser, "retry_in", wait.Round(time.Second))
		a.cfg.Metrics.Login("rate_limited")
		return "", &RateLimitError{Wait: wait}
	}
	var m casestore.Mediator
	err := a.store.View(func(tx *casestore.Tx) (err error) { m, err = tx.Mediator(user); return err })
	if err != nil && !errors.Is(err, casestore.ErrNotFound) {
		return "", fmt.Errorf("look up mediator: %w", err)
	}
	phc := m.Password
	known := err == nil && phc != ""
	if !known {
		phc = a.dummyHash() // same work either way: timing does not tell which accounts exist
	}
	ok, verr := a.verify(ctx, pw, phc)
	if verr != nil && known {
		a.log.Error("mediator password hash unreadable", "user", user, "err", verr)
	}
	if known && ok && verr == nil {
		a.byUser.succeeded(uk)
		a.cfg.Metrics.Login("success")
		return m.Email, nil
	}
	a.byAddr.failed(ak)
	a.byUser.failed(uk)
	a.log.Info("login failed", "user", logUser(user), "remote", remote.String())
	a.cfg.Metrics.Login("failure")
	if a.cfg.FailDelay > 0 {
		t := time.NewTimer(a.cfg.FailDelay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	return "", ErrBadCredentials
}

func (a *Authenticator) verify(ctx context.Context, pw, phc string) (bool, error) {
	select {
	case a.slots <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-a.slots }()
	return password.Verify(pw, phc)
}

func (a *Authenticator) dummyHash() string {
	a.dummyMu.Do(func() {
		b := make([]byte, 16)
		rand.Read(b)
		h, err := password.Hash(hex.EncodeToString(b))
		if err != nil {
			a.log.Error("make dummy password hash", "err", err)
		}
		a.dummy = h
	})
	return a.dummy
}

// logUser is what a log line shows of a login name: an address as typed, or
// nothing when it does not look like one (it may be a misplaced password).
func logUser(user string) string {
	if !strings.Contains(user, "@") || len(user) > 254 || strings.ContainsAny(user, " \t\r\n") {
		return "(not an address)"
	}
	return user
}
