package password

import (
	"strings"
	"testing"
)

func TestHashVerify(t *testing.T) {
	h, err := Hash("correct horse battery")
	if err != nil || !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=3,p=2$") {
		t.Fatalf("%q %v", h, err)
	}
	if ok, err := Verify("correct horse battery", h); !ok || err != nil {
		t.Fatal("right password refused")
	}
	if ok, _ := Verify("correct horse batterY", h); ok {
		t.Fatal("wrong password accepted")
	}
	h2, _ := Hash("correct horse battery")
	if h == h2 {
		t.Fatal("same salt twice")
	}
	if _, err := Hash("short"); err == nil {
		t.Fatal("short password accepted")
	}
	if _, err := Verify("x", "$2y$10$bcrypt"); err == nil {
		t.Fatal("foreign hash accepted")
	}
}
