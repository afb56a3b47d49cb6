// Package docs holds the project's documents; its test keeps the package
// table of architecture.md true to the code.
package docs

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

const module = "parley"

// allowedImports reads the package table of architecture.md: for each
// package (by folder), the packages of this module (by folder) and the
// third-party module paths it may import; "*" allows anything.
func allowedImports(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open("architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	code := regexp.MustCompile("`([^`]+)`")
	rules := map[string][]string{}
	inTable := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "| package | owns | may import |") {
			inTable = true
			continue
		}
		if !inTable || strings.HasPrefix(line, "|---") {
			continue
		}
		if !strings.HasPrefix(line, "|") {
			if len(rules) > 0 {
				break
			}
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 3 {
			t.Fatalf("architecture.md: a package row needs 3 cells: %q", line)
		}
		pkg := code.FindStringSubmatch(cells[0])
		if pkg == nil {
			t.Fatalf("architecture.md: no `package` in the first cell of %q", line)
		}
		allowed := []string{}
		for _, m := range code.FindAllStringSubmatch(cells[2], -1) {
			allowed = append(allowed, m[1])
		}
		rules[pkg[1]] = allowed
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rules) == 0 {
		t.Fatal("architecture.md: no package table found")
	}
	return rules
}

// allows reports whether an import path is in the list: a package of this
// module by folder, or a third-party module path or any package under it.
func allows(allowed []string, imp string) bool {
	for _, a := range allowed {
		if a == "*" {
			return true
		}
		if a == imp || strings.HasPrefix(imp, a+"/") && strings.Contains(strings.SplitN(a, "/", 2)[0], ".") {
			return true
		}
	}
	return false
}

func TestPackageTableMatchesImports(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("the go command is not on PATH")
		}
		t.Skip("the go command is not on PATH")
	}
	rules := allowedImports(t)
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+"/...")
	cmd.Dir = ".."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg, ok := strings.CutPrefix(fields[0], module+"/")
		if !ok || pkg == "docs" {
			continue
		}
		seen[pkg] = true
		allowed, ok := rules[pkg]
		if !ok {
			t.Errorf("package %s has no row in docs/architecture.md: add what it owns and may import", pkg)
			continue
		}
		for _, imp := range fields[1:] {
			own, ours := strings.CutPrefix(imp, module+"/")
			switch {
			case ours && !allows(allowed, own):
				t.Errorf("%s imports %s, which its row in docs/architecture.md does not allow", pkg, imp)
			case !ours && strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") && !allows(allowed, imp):
				t.Errorf("%s imports the third-party %s, which its row in docs/architecture.md does not allow", pkg, imp)
			}
		}
	}
	for pkg := range rules {
		if !seen[pkg] {
			t.Errorf("docs/architecture.md has a row for %s, which is not a package of the module", pkg)
		}
	}
}

func TestAllows(t *testing.T) {
	for _, tc := range []struct {
		allowed []string
		imp     string
		want    bool
	}{
		{[]string{"route"}, "route", true},
		{[]string{"route"}, "casestore", false},
		{[]string{"translate"}, "translate/apytest", false}, // a package of ours is not a prefix
		{[]string{"go.etcd.io/bbolt"}, "go.etcd.io/bbolt/errors", true},
		{[]string{"go.etcd.io/bbolt"}, "go.etcd.io/bboltx", false},
		{[]string{"*"}, "anything.example/x", true},
		{nil, "github.com/x/y", false},
	} {
		if got := allows(tc.allowed, tc.imp); got != tc.want {
			t.Errorf("allows(%q, %q) = %v, want %v", tc.allowed, tc.imp, got, tc.want)
		}
	}
}
