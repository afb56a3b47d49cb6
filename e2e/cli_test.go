package e2e

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"parley/casestore"
)

// runCLI runs the built binary and returns its combined output and exit code.
func runCLI(t *testing.T, args ...string) (string, int) {
	t.Helper()
	return runCmd(t, exec.Command(parleyBin, args...))
}

// runCLIIn is runCLI in the folder dir.
func runCLIIn(t *testing.T, dir string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(parleyBin, args...)
	cmd.Dir = dir
	return runCmd(t, cmd)
}

func runCmd(t *testing.T, cmd *exec.Cmd) (string, int) {
	t.Helper()
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// initData runs parley init for a config file and data folder of its own.
func initData(t *testing.T) (cfg, data string) {
	t.Helper()
	dir := t.TempDir()
	cfg, data = filepath.Join(dir, "parley.toml"), filepath.Join(dir, "data")
	if out, code := runCLI(t, "init", "--config", cfg, "--data", data); code != 0 {
		t.Fatalf("init: %d %s", code, out)
	}
	return cfg, data
}

func TestCLIWithoutDaemon(t *testing.T) {
	_, data := initData(t)
	out, code := runCLI(t, "trader", "add", "--data", data, "--handle", "acme", "--name", "Acme Shop", "--email", "support@acme.example", "--lang", "nl")
	if code != 0 || !strings.Contains(out, "acme") {
		t.Fatalf("trader add without daemon: %d %s", code, out)
	}
	out, code = runCLI(t, "trader", "list", "--data", data, "--json")
	if code != 0 || !strings.Contains(out, `"support@acme.example"`) {
		t.Fatalf("trader list: %d %s", code, out)
	}
	out, code = runCLI(t, "case", "list", "--data", data, "--json")
	if code != 0 || strings.Join(strings.Fields(out), " ") != `{ "cases": [], "more": false }` {
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

func TestCLIRefusesAFolderWithoutData(t *testing.T) {
	empty := t.TempDir() // exists, holds nothing
	typo := filepath.Join(t.TempDir(), "typo")
	export := filepath.Join(t.TempDir(), "case.zip")
	for _, data := range []string{typo, empty} {
		for _, args := range [][]string{
			{"case", "list"},
			{"case", "show", "AAA-AAAA"},
			{"case", "verify", "AAA-AAAA"},
			{"case", "export", "AAA-AAAA", "-o", export},
			{"trader", "list", "--json"},
			{"trader", "show", "acme"},
			{"trader", "add", "--handle", "acme", "--name", "Acme", "--email", "a@acme.example"},
			{"trader", "domain", "add", "acme", "acme.example"},
			{"mediator", "list"},
			{"mediator", "add", "--email", "m@mediators.example", "--name", "M"},
		} {
			cmd := exec.Command(parleyBin, append(args, "--data", data)...)
			cmd.Env = append(os.Environ(), "PARLEY_PASSWORD=a long password")
			out, code := runCmd(t, cmd)
			want := "parley: no Parley data in " + data + "; run parley serve or parley init\n"
			if code != 1 || out != want {
				t.Errorf("%v on %s: exit %d, %q; want exit 1, %q", args, data, code, out, want)
			}
		}
	}
	if _, err := os.Stat(typo); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("admin commands created the mistyped data folder: %v", err)
	}
	if ents, _ := os.ReadDir(empty); len(ents) != 0 {
		t.Errorf("admin commands wrote into an empty folder: %v", ents)
	}
	if _, err := os.Stat(export); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("case export wrote %s without data: %v", export, err)
	}
}

func TestCLIFlagsBeforeOrAfterArguments(t *testing.T) {
	cfg, data := initData(t)
	if out, code := runCLI(t, "trader", "add", "--handle", "acme", "--name", "Acme", "--email", "support@acme.example", "--data", data); code != 0 {
		t.Fatalf("trader add: %d %s", code, out)
	}
	for _, args := range [][]string{
		{"trader", "show", "--data", data, "acme", "--json"},
		{"trader", "show", "acme", "--data", data, "--json"},
		{"trader", "show", "--json", "--data", data, "acme"},
		{"trader", "show", "--data=" + data, "--json", "--", "acme"},
		{"--data", data, "trader", "show", "acme", "--json"},
		{"--config", cfg, "--data", data, "trader", "show", "--json", "acme"},
		{"--data=" + data, "trader", "show", "acme", "--json"},
	} {
		out, code := runCLI(t, args...)
		if code != 0 || !strings.Contains(out, `"handle": "acme"`) {
			t.Errorf("%v: exit %d %s", args, code, out)
		}
	}
	// The issue's own example: the case id after --data DIR is the id, so the
	// answer is that the case does not exist, not "which case?".
	for _, args := range [][]string{
		{"case", "show", "--data", data, "AAA-AAAA", "--json"},
		{"case", "show", "AAA-AAAA", "--data", data, "--json"},
		{"case", "verify", "--json", "AAA-AAAA", "--data", data},
		{"case", "export", "-o", filepath.Join(t.TempDir(), "c.zip"), "--data", data, "AAA-AAAA"},
	} {
		out, code := runCLI(t, args...)
		if code != 1 || !strings.Contains(out, "AAA-AAAA") || !strings.Contains(out, "not found") {
			t.Errorf("%v: exit %d %q; want the case looked up and not found", args, code, out)
		}
	}
	out, code := runCLI(t, "trader", "address", "add", "--data", data, "acme", "--cc", "boss@acme.example")
	if code != 0 || !strings.Contains(out, "boss@acme.example (copies of all mail)") {
		t.Errorf("trader address add with flags between arguments: %d %s", code, out)
	}
}

func TestCLIExtraOrMissingArguments(t *testing.T) {
	_, data := initData(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"case", "show", "AAA-AAAA", "extra", "--data", data}, `parley: case show: unexpected argument "extra"`},
		{[]string{"case", "show", "--data", data, "AAA-AAAA", "--json", "extra"}, `parley: case show: unexpected argument "extra"`},
		{[]string{"case", "list", "--data", data, "open"}, `parley: case list: unexpected argument "open"`},
		{[]string{"trader", "domain", "add", "acme", "acme.example", "more.example", "--data", data}, `parley: trader domain add: unexpected argument "more.example"`},
		{[]string{"case", "verify-export", "a.zip", "b.zip"}, `parley: case verify-export: unexpected argument "b.zip"`},
		{[]string{"version", "now"}, `parley: version: unexpected argument "now"`},
		{[]string{"init", "here", "--config", filepath.Join(t.TempDir(), "p.toml")}, `parley: init: unexpected argument "here"`},
		{[]string{"case", "show", "--data", data}, "parley: case show: missing ID"},
		{[]string{"trader", "address", "remove", "acme", "--data", data}, "parley: trader address remove: missing EMAIL"},
		{[]string{"case", "list", "--dtaa", data}, "parley: case list: flag provided but not defined: -dtaa"},
	} {
		out, code := runCLI(t, tc.args...)
		if code != 2 || !strings.HasPrefix(out, tc.want) || strings.Count(out, "\n") != 1 {
			t.Errorf("%v: exit %d %q; want exit 2 and one line starting %q", tc.args, code, out, tc.want)
		}
	}
}

func TestCLIUnknownCommandNamesTheNearest(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"csae", "list"}, `parley: unknown command "csae"; did you mean "case"?`},
		{[]string{"serv"}, `parley: unknown command "serv"; did you mean "serve"?`},
		{[]string{"mediators", "list"}, `parley: unknown command "mediators"; did you mean "mediator"?`},
		{[]string{"case", "shwo", "AAA-AAAA"}, `parley: unknown command "case shwo"; did you mean "case show"?`},
		{[]string{"trader", "adress", "add"}, `parley: unknown command "trader adress"; did you mean "trader address"?`},
		{[]string{"trader", "domain", "delete"}, `parley: unknown command "trader domain delete"; the commands are add, remove`},
		{[]string{"frobnicate"}, `parley: unknown command "frobnicate"; the commands are serve, init,`},
		{[]string{"case"}, "parley: case: which command? one of list, show,"},
		{[]string{"--json", "case", "list"}, "parley: flag --json before the command: only --config, --data,"},
		{[]string{"--data", "somewhere"}, "parley: which command? one of serve, init,"},
	} {
		out, code := runCLI(t, tc.args...)
		if code != 2 || !strings.HasPrefix(out, tc.want) || strings.Count(out, "\n") != 1 {
			t.Errorf("%v: exit %d %q; want exit 2 and one line starting %q", tc.args, code, out, tc.want)
		}
	}
	if out, code := runCLI(t); code != 2 || !strings.Contains(out, "commands:") {
		t.Errorf("no command: exit %d %q; want the usage and exit 2", code, out)
	}
	for _, help := range [][]string{{"help"}, {"--help"}, {"case", "show", "-h"}, {"case", "-h"}} {
		if out, code := runCLI(t, help...); code != 0 || !strings.Contains(out, "usage") {
			t.Errorf("%v: exit %d %q; want usage and exit 0", help, code, out)
		}
	}
}

func TestCLIVersion(t *testing.T) {
	long, code := runCLI(t, "--version")
	if code != 0 || !strings.HasPrefix(long, "parley ") || !strings.Contains(long, " "+runtime.Version()+" ") ||
		!strings.HasSuffix(long, runtime.GOOS+"/"+runtime.GOARCH+"\n") {
		t.Fatalf("parley --version: exit %d %q; want parley, the version, %s and the platform", code, long, runtime.Version())
	}
	if short, code := runCLI(t, "version"); code != 0 || short != long {
		t.Errorf("parley version: exit %d %q; want what --version prints, %q", code, short, long)
	}
}

func TestInitForce(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "parley.toml")
	out, code := runCLIIn(t, dir, "init")
	if code != 0 || !strings.Contains(out, "wrote parley.toml") {
		t.Fatalf("init: %d %s", code, out)
	}
	sample, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	edited := append([]byte("# edited by the operator\n"), sample...)
	if err := os.WriteFile(path, edited, 0o600); err != nil {
		t.Fatal(err)
	}
	out, code = runCLIIn(t, dir, "init")
	if want := "parley: parley.toml exists; use --force to overwrite\n"; code != 1 || out != want {
		t.Errorf("init over an existing file: exit %d %q; want exit 1, %q", code, out, want)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, edited) {
		t.Errorf("init without --force changed the file")
	}
	out, code = runCLIIn(t, dir, "init", "--force")
	if code != 0 || !strings.Contains(out, "already holds Parley data, left as it is") {
		t.Errorf("init --force: exit %d %s", code, out)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, sample) {
		t.Errorf("init --force did not write the sample")
	}
}

func TestDataDirRelativeToTheConfigFile(t *testing.T) {
	etc, cwd := t.TempDir(), t.TempDir()
	cfg := filepath.Join(etc, "parley.toml")
	if err := os.WriteFile(cfg, []byte("data_dir = \"state\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Without data, the message names the folder next to the config file.
	out, code := runCLIIn(t, cwd, "case", "list", "--config", cfg)
	if want := filepath.Join(etc, "state"); code != 1 || !strings.Contains(out, "no Parley data in "+want+";") {
		t.Errorf("case list before init: exit %d %q; want it to look in %s", code, out, want)
	}
	if out, code := runCLIIn(t, cwd, "init", "--force", "--config", cfg); code != 0 {
		t.Fatalf("init: %d %s", code, out)
	}
	// The sample's data_dir, parley-data, is relative to etc too.
	if _, err := os.Stat(filepath.Join(etc, "parley-data", "parley.db")); err != nil {
		t.Fatalf("init did not create the data folder beside the config file: %v", err)
	}
	if out, code := runCLIIn(t, cwd, "trader", "add", "--config", cfg, "--handle", "acme", "--name", "Acme", "--email", "a@acme.example"); code != 0 {
		t.Fatalf("trader add from another folder: %d %s", code, out)
	}
	// --data on the command line stays relative to the current folder.
	if out, code := runCLIIn(t, cwd, "init", "--force", "--config", cfg, "--data", "here"); code != 0 || !strings.Contains(out, "created data folder here") {
		t.Fatalf("init --data here: %d %s", code, out)
	}
	if _, err := os.Stat(filepath.Join(cwd, "here", "parley.db")); err != nil {
		t.Errorf("--data here is not relative to the current folder: %v", err)
	}
	if out, code := runCLIIn(t, cwd, "trader", "list", "--config", cfg, "--data", "here", "--json"); code != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("trader list --data here: %d %q; want the new, empty folder", code, out)
	}
	if ents, _ := os.ReadDir(cwd); len(ents) != 1 {
		t.Errorf("the current folder holds %v; want only the --data folder", ents)
	}
}
