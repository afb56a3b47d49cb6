// Package password hashes and checks mediator passwords with argon2id (RFC
// 9106), stored as PHC strings: $argon2id$v=19$m=...,t=...,p=...$salt$hash.
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Parameters of RFC 9106's second recommended option (64 MiB, 3 passes).
const (
	memory  = 64 * 1024
	passes  = 3
	threads = 2
	keyLen  = 32
)

// MinLength is the shortest password accepted.
const MinLength = 10

// Hash returns the PHC string for pw.
func Hash(pw string) (string, error) {
	if len(pw) < MinLength {
		return "", fmt.Errorf("password too short: at least %d characters", MinLength)
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(pw), salt, passes, memory, threads, keyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, memory, passes, threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify reports whether pw matches the PHC string.
func Verify(pw, phc string) (bool, error) {
	f := strings.Split(phc, "$")
	if len(f) != 6 || f[1] != "argon2id" {
		return false, errors.New("not an argon2id hash")
	}
	var m uint32
	var t uint32
	var p uint8
	if _, err := fmt.Sscanf(f[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false, fmt.Errorf("argon2id parameters: %w", err)
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(f[4])
	if err != nil {
		return false, err
	}
	want, err := b64.DecodeString(f[5])
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
