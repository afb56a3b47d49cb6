package threading

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"parley/route"
)

func testKeys(t *testing.T) *Keys {
	t.Helper()
	k, err := NewKeys('a', map[byte][]byte{'a': bytes.Repeat([]byte{1}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestPartyAddressRoundTrip(t *testing.T) {
	k := testKeys(t)
	for _, role := range route.Roles {
		local := k.PartyLocal("K7Q-4M2P", role)
		if strings.ContainsAny(local, "+_ ") || local != strings.ToLower(local) {
			t.Errorf("local part %q has characters senders mangle", local)
		}
		for _, variant := range []string{local, strings.ToUpper(local)} {
			tok, err := k.Parse(variant)
			if err != nil || tok.Kind != KindParty || tok.CaseID != "K7Q-4M2P" || tok.Role != role {
				t.Errorf("Parse(%q) = %+v, %v", variant, tok, err)
			}
		}
	}
}

func TestForgedAddressesRefused(t *testing.T) {
	k := testKeys(t)
	good := k.PartyLocal("K7Q-4M2P", route.Trader)
	f := strings.Split(good, ".")
	cases := map[string]string{
		"other role":    f[0] + ".c." + f[2],
		"other case":    "k7q-4m2q.t." + f[2],
		"flipped tag":   f[0] + ".t." + f[2][:5] + string("01"[(strings.IndexByte(alphabet, f[2][5])+1)%2]) + f[2][6:],
		"unknown key":   f[0] + ".t.z" + f[2][1:],
		"bad role":      f[0] + ".x." + f[2],
		"bounce forged": "b.1a." + f[2],
	}
	for name, local := range cases {
		if _, err := k.Parse(local); !errors.Is(err, ErrBadTag) {
			t.Errorf("%s: Parse(%q) err = %v, want ErrBadTag", name, local, err)
		}
	}
	for _, local := range []string{"complaints", "acme", "a.b", "postmaster"} {
		tok, err := k.Parse(local)
		if err != nil || tok.Kind != KindNone {
			t.Errorf("Parse(%q) = %+v, %v; want KindNone", local, tok, err)
		}
	}
}

func TestBounceAddress(t *testing.T) {
	k := testKeys(t)
	for _, id := range []uint64{1, 42, 1 << 40} {
		tok, err := k.Parse(k.BounceLocal(id))
		if err != nil || tok.Kind != KindBounce || tok.Outbound != id {
			t.Errorf("bounce %d: %+v, %v", id, tok, err)
		}
	}
}

func TestKeyRotation(t *testing.T) {
	old, _ := NewKeys('a', map[byte][]byte{'a': bytes.Repeat([]byte{1}, 32)})
	addr := old.PartyLocal("ABC-DEFG", route.Consumer)
	rotated, err := NewKeys('b', map[byte][]byte{'a': bytes.Repeat([]byte{1}, 32), 'b': bytes.Repeat([]byte{2}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	if tok, err := rotated.Parse(addr); err != nil || tok.CaseID != "ABC-DEFG" {
		t.Fatalf("old address after rotation: %+v %v", tok, err)
	}
	if fresh := rotated.PartyLocal("ABC-DEFG", route.Consumer); fresh == addr || !strings.Contains(fresh, ".b") {
		t.Fatalf("new addresses must use the new key: %s", fresh)
	}
}

func TestLoadOrCreateKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "reply.keys")
	k1, err := LoadOrCreateKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", st.Mode(), err)
	}
	k2, err := LoadOrCreateKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	if k1.PartyLocal("ABC-DEFG", route.Trader) != k2.PartyLocal("ABC-DEFG", route.Trader) {
		t.Fatal("reloaded keys mint different addresses")
	}
}

func TestCaseIDs(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := NewCaseID()
		if !ValidCaseID(id) || seen[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
	}
	if NormalizeCaseID(" k7q-4m2o ") != "K7Q-4M20" {
		t.Fatal("normalize should map O to 0 and upper-case")
	}
}

func TestSubjects(t *testing.T) {
	if got := BaseSubject("Re: AW: [K7Q-4M2P] Broken kettle"); got != "Broken kettle" {
		t.Errorf("BaseSubject = %q", got)
	}
	if id, ok := CaseFromSubject("Fwd: Re: [K7Q-4M2P] Broken"); !ok || id != "K7Q-4M2P" {
		t.Errorf("CaseFromSubject = %q %v", id, ok)
	}
	if s := CaseSubject("K7Q-4M2P", "a\r\nBcc: x@y", true); strings.ContainsAny(s, "\r\n") {
		t.Errorf("CaseSubject lets a line break through: %q", s)
	}
	refs := make([]string, 30)
	for i := range refs {
		refs[i] = string(rune('a' + i%26))
	}
	got := References(refs)
	if len(got) != maxReferences || got[0] != refs[0] || got[len(got)-1] != refs[29] {
		t.Errorf("References keeps root and latest: %v", got)
	}
}

func TestChoiceAddress(t *testing.T) {
	k := testKeys(t)
	for _, ch := range []route.Choice{route.ChoiceResolved, route.ChoiceMediation, route.ChoiceWait, route.ChoiceAccept, route.ChoiceReject, route.ChoiceWithdraw} {
		local := k.ChoiceLocal("K7Q-4M2P", ch)
		tok, err := k.Parse(local)
		if err != nil || tok.Kind != KindChoice || tok.Choice != ch || tok.CaseID != "K7Q-4M2P" {
			t.Errorf("%s: %+v %v", ch, tok, err)
		}
		f := strings.Split(local, ".")
		other := route.ChoiceWait
		if ch == route.ChoiceWait {
			other = route.ChoiceResolved
		}
		if _, err := k.Parse(f[0] + "." + string(other) + "." + f[2]); !errors.Is(err, ErrBadTag) {
			t.Errorf("%s tag accepted for %s", ch, other)
		}
	}
}
