package main

import (
	"runtime/debug"
	"slices"
	"testing"
)

func TestNearestCommand(t *testing.T) {
	names := []string{"serve", "init", "trader", "case", "mediator", "version", "help"}
	for word, want := range map[string]string{
		"csae": "case", "cas": "case", "serv": "serve", "sreve": "serve", "traders": "trader",
		"mediater": "mediator", "verison": "version", "ini": "init",
		"frobnicate": "", "x": "", "backup": "", "ca": "",
	} {
		if got := nearest(word, names); got != want {
			t.Errorf("nearest(%q) = %q, want %q", word, got, want)
		}
	}
}

func TestHoistGlobals(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{[]string{"--config", "F", "case", "list"}, []string{"case", "list", "--config", "F"}},
		{[]string{"-data=D", "--config", "F", "case", "show", "ID"}, []string{"case", "show", "ID", "-data=D", "--config", "F"}},
		{[]string{"case", "list", "--config", "F"}, []string{"case", "list", "--config", "F"}},
		{[]string{"--json", "case"}, []string{"--json", "case"}},
		{[]string{"--config"}, []string{"--config"}},
	} {
		if got := hoistGlobals(slices.Clone(tc.in)); !slices.Equal(got, tc.want) {
			t.Errorf("hoistGlobals(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestVersionLine(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "parley", Version: "v1.2.0"},
		Settings: []debug.BuildSetting{{Key: "GOOS", Value: "linux"}, {Key: "GOARCH", Value: "arm64"},
			{Key: "vcs.revision", Value: "74ff5bd0123456789abcdef0123456789abcdef0"},
			{Key: "vcs.time", Value: "2026-11-30T10:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	if got, want := versionLine(bi), "parley v1.2.0 (commit 74ff5bd01234, 2026-11-30T10:00:00Z, modified) go1.26.8 linux/arm64"; got != want {
		t.Errorf("versionLine = %q, want %q", got, want)
	}
	bi.Settings[4].Value = "false"
	if got, want := versionLine(bi), "parley v1.2.0 (commit 74ff5bd01234, 2026-11-30T10:00:00Z) go1.26.8 linux/arm64"; got != want {
		t.Errorf("clean tree: versionLine = %q, want %q", got, want)
	}
	bi.Main.Version, bi.Settings = "", bi.Settings[:2]
	if got, want := versionLine(bi), "parley (devel) go1.26.8 linux/arm64"; got != want {
		t.Errorf("no VCS: versionLine = %q, want %q", got, want)
	}
}
