package threading

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"parley/route"
)

// alphabet is Crockford's base32 in lower case: no i, l, o, u, so ids read aloud
// and typed by hand survive.
const alphabet = "0123456789abcdefghjkmnpqrstvwxyz"

// tagLen is the number of base32 characters of HMAC tag: 13*5 = 65 bits.
const tagLen = 13

// Keys mints and verifies address tags. The newest key mints; all keys verify,
// so a key can be rotated without breaking the addresses already handed out.
type Keys struct {
	current byte
	keys    map[byte][]byte
}

// NewKeys builds a key set from id->secret; current must be among them.
func NewKeys(current byte, keys map[byte][]byte) (*Keys, error) {
	if _, ok := keys[current]; !ok {
		return nil, fmt.Errorf("current key id %q has no key", current)
	}
	for id, k := range keys {
		if strings.IndexByte(alphabet, id) < 0 {
			return nil, fmt.Errorf("key id %q: must be one of %s", id, alphabet)
		}
		if len(k) < 32 {
			return nil, fmt.Errorf("key %q: %d bytes, want at least 32", id, len(k))
		}
	}
	return &Keys{current: current, keys: keys}, nil
}

// LoadOrCreateKeys reads the key file ("ID HEX" per line, last line mints),
// creating it with one fresh key (mode 0600) when it does not exist.
func LoadOrCreateKeys(path string) (*Keys, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		secret := make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return nil, fmt.Errorf("new reply key: %w", err)
		}
		line := "a " + hex.EncodeToString(secret) + "\n"
		if err := writeFileSync(path, []byte(line)); err != nil {
			return nil, fmt.Errorf("write reply key %s: %w", path, err)
		}
		return NewKeys('a', map[byte][]byte{'a': secret})
	}
	if err != nil {
		return nil, fmt.Errorf("read reply keys: %w", err)
	}
	keys := map[byte][]byte{}
	var current byte
	for n, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, hx, ok := strings.Cut(line, " ")
		if !ok || len(id) != 1 {
			return nil, fmt.Errorf("%s line %d: want \"ID HEXKEY\"", path, n+1)
		}
		secret, err := hex.DecodeString(strings.TrimSpace(hx))
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, n+1, err)
		}
		keys[id[0]] = secret
		current = id[0]
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: no keys", path)
	}
	return NewKeys(current, keys)
}

func writeFileSync(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (k *Keys) tag(id byte, parts ...string) string {
	m := hmac.New(sha256.New, k.keys[id])
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return encode(m.Sum(nil))[:tagLen]
}

// PartyLocal returns the local part of a party's reply address for a case.
func (k *Keys) PartyLocal(caseID string, role route.Role) string {
	id := strings.ToLower(caseID)
	return id + "." + role.Letter() + "." + string(k.current) + k.tag(k.current, "party", id, role.Letter())
}

// ChoiceLocal returns the local part of a choice address of a case.
func (k *Keys) ChoiceLocal(caseID string, choice route.Choice) string {
	id := strings.ToLower(caseID)
	return id + "." + string(choice) + "." + string(k.current) + k.tag(k.current, "choice", id, string(choice))
}

// BounceLocal returns the VERP local part naming outbound row out.
func (k *Keys) BounceLocal(out uint64) string {
	n := strconv.FormatUint(out, 32)
	return "b." + n + "." + string(k.current) + k.tag(k.current, "bounce", n)
}

// Kind says what a local part addresses.
type Kind int

const (
	KindNone   Kind = iota // not a token address
	KindParty              // a party's reply address of a case
	KindBounce             // the VERP return path of an outbound message
	KindChoice             // a choice address of a case
)

// Token is a parsed, verified token address.
type Token struct {
	Kind     Kind
	CaseID   string       // upper case with dash, e.g. K7Q-4M2P (KindParty)
	Role     route.Role   // KindParty
	Outbound uint64       // KindBounce
	Choice   route.Choice // KindChoice
}

// ErrBadTag means the local part has the shape of a token but its tag does not verify.
var ErrBadTag = errors.New("reply address tag does not verify")

// Parse reads a local part. It returns KindNone with a nil error when the local
// part is not shaped like a token, and ErrBadTag when it is but was forged or mangled.
func (k *Keys) Parse(local string) (Token, error) {
	local = strings.ToLower(local)
	f := strings.Split(local, ".")
	if len(f) != 3 || len(f[2]) != 1+tagLen {
		return Token{}, nil
	}
	id, tag := f[2][0], f[2][1:]
	check := func(parts ...string) error {
		if _, ok := k.keys[id]; !ok {
			return ErrBadTag
		}
		if subtle.ConstantTimeCompare([]byte(k.tag(id, parts...)), []byte(tag)) != 1 {
			return ErrBadTag
		}
		return nil
	}
	if f[0] == "b" {
		n, err := strconv.ParseUint(f[1], 32, 64)
		if err != nil {
			return Token{}, ErrBadTag
		}
		if err := check("bounce", f[1]); err != nil {
			return Token{}, err
		}
		return Token{Kind: KindBounce, Outbound: n}, nil
	}
	if !ValidCaseID(f[0]) {
		return Token{}, nil
	}
	if c := route.Choice(f[1]); c.Valid() {
		if err := check("choice", f[0], f[1]); err != nil {
			return Token{}, err
		}
		return Token{Kind: KindChoice, CaseID: strings.ToUpper(f[0]), Choice: c}, nil
	}
	role, ok := route.RoleFromLetter(f[1])
	if !ok {
		return Token{}, ErrBadTag
	}
	if err := check("party", f[0], f[1]); err != nil {
		return Token{}, err
	}
	return Token{Kind: KindParty, CaseID: strings.ToUpper(f[0]), Role: role}, nil
}

func encode(b []byte) string {
	var sb strings.Builder
	var acc uint64
	bits := 0
	for _, c := range b {
		acc = acc<<8 | uint64(c)
		bits += 8
		for bits >= 5 {
			bits -= 5
			sb.WriteByte(alphabet[(acc>>uint(bits))&31])
		}
	}
	return sb.String()
}

// NewCaseID returns a random case id like K7Q-4M2P (35 bits).
func NewCaseID() string {
	b := make([]byte, 7)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // crypto/rand never fails on Linux
	}
	for i := range b {
		b[i] = alphabet[b[i]&31]
	}
	return strings.ToUpper(string(b[:3]) + "-" + string(b[3:]))
}

// ValidCaseID reports whether s (any case) has the shape of a case id.
func ValidCaseID(s string) bool {
	if len(s) != 8 || s[3] != '-' {
		return false
	}
	for i, c := range strings.ToLower(s) {
		if i == 3 {
			continue
		}
		if !strings.ContainsRune(alphabet, c) {
			return false
		}
	}
	return true
}

// NormalizeCaseID returns the canonical upper-case form, accepting the
// look-alikes a person may type (o for 0, i and l for 1).
func NormalizeCaseID(s string) string {
	r := strings.NewReplacer("O", "0", "I", "1", "L", "1")
	return r.Replace(strings.ToUpper(strings.TrimSpace(s)))
}
