package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"parley/casestore"
)

// runCLI runs the built binary and returns its combined output and exit code.
func runCLI(t *testing.T, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(parleyBin, args...).CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

func TestCLIWithoutDaemon(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	out, code := runCLI(t, "trader", "add", "--data", data, "--handle", "acme", "--name", "Acme Shop", "--email", "support@acme.example", "--lang", "nl")
	if code != 0 || !strings.Contains(out, "acme") {
		t.Fatalf("trader add without daemon: %d %s", code, out)
	}
	out, code = runCLI(t, "trader", "list", "--data", data, "--json")
	if code != 0 || !strings.Contains(out, `"support@acme.example"`) {
		t.Fatalf("trader list: %d %s", code, out)
	}
	out, code = runCLI(t, "case", "list", "--data", data, "--json")
	if code != 0 || strings.TrimSpace(out) != "[]" {
		t.Fatalf("case list on an empty store: %d %q", code, out)
	}
	for _, bad := range [][]string{
		{"trader", "add", "--data", data, "--handle", "Bad Handle!", "--name", "x", "--email", "a@b.example"},
		{"trader", "add", "--data", data, "--handle", "complaints", "--name", "x", "--email", "a@b.example"},
		{"trader", "add", "--data", data, "--handle", "shop", "--name", "x", "--email", "a@b.example", "--lang", "xx"},
		{"case", "show", "AAA-AAAA", "--data", data},
		{"case", "show", "--data", data},
		{"serve", "--config", filepath.Join(data, "missing.toml")},
	} {
		out, code := runCLI(t, bad...)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if code == 0 || len(lines) != 1 || !strings.HasPrefix(lines[0], "parley: ") {
			t.Errorf("%v: exit %d, output %q; want non-zero and one line of reason", bad, code, out)
		}
	}
	if _, code := runCLI(t, "frobnicate"); code != 2 {
		t.Errorf("unknown command: exit %d, want 2 (usage)", code)
	}
}

func TestCLIWhenFileHeldWithoutSocket(t *testing.T) {
	data := t.TempDir()
	store, err := casestore.Open(data, casestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	out, code := runCLI(t, "case", "list", "--data", data)
	if code == 0 || !strings.Contains(out, "control socket") {
		t.Fatalf("want a clear message about the held file and missing socket, got %d %q", code, out)
	}
	out, code = runCLI(t, "serve", "--data", data, "--smtp", freeAddr(t))
	if code == 0 || !strings.Contains(out, "already serving") {
		t.Fatalf("second serve on the same data: %d %q", code, out)
	}
}

func TestInitWritesSample(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parley.toml")
	if out, code := runCLI(t, "init", "--config", path); code != 0 {
		t.Fatalf("init: %d %s", code, out)
	}
	if out, code := runCLI(t, "init", "--config", path); code == 0 {
		t.Fatalf("init overwrote an existing file: %s", out)
	}
}
