package route

import (
	"encoding/json"
	"testing"
)

func TestTextFormRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		t    Target
		text string
	}{
		{Complaints(), "intake:complaints"},
		{Intake("Acme"), "intake:acme"},
		{IntakeIn("acme", "es"), "intake:acme.es"},
		{IntakeIn("", "pl"), "intake:complaints.pl"},
		{Party("K7Q-4M2P", Consumer), "party:K7Q-4M2P:c"},
		{Party("K7Q-4M2P", Mediator), "party:K7Q-4M2P:m"},
		{ChoiceOf("K7Q-4M2P", ChoiceWithdraw), "choice:K7Q-4M2P:withdraw"},
		{Bounce(42), "bounce:42"},
		{Postmaster(), "postmaster"},
	} {
		if got := tc.t.String(); got != tc.text {
			t.Errorf("%+v: %q, want %q", tc.t, got, tc.text)
		}
		back, err := Parse(tc.text)
		if err != nil || back != tc.t {
			t.Errorf("Parse(%q) = %+v, %v", tc.text, back, err)
		}
		b, _ := json.Marshal(struct{ T Target }{tc.t})
		var v struct{ T Target }
		if err := json.Unmarshal(b, &v); err != nil || v.T != tc.t {
			t.Errorf("JSON %s: %+v %v", b, v.T, err)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, s := range []string{"party:X", "party:X:z", "choice:X:fly", "bounce:x", "intake:", "intake:a:b", "postmaster:x", "mailbox:1", "party::c"} {
		if _, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) accepted", s)
		}
	}
}

func TestShard(t *testing.T) {
	if Party("A", Trader).Shard("x@y") != ChoiceOf("A", ChoiceWait).Shard("z@w") {
		t.Error("a case's party and choice mail go to different shards")
	}
	if Intake("acme").Shard("Jan@X") != Complaints().Shard("jan@x") {
		t.Error("one sender's complaints go to different shards")
	}
}
