package main

import (
	"flag"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// cmdVersion prints what the binary was built from: parley version.
func cmdVersion(args []string) error {
	if _, err := parseArgs(flag.NewFlagSet("version", flag.ContinueOnError), args); err != nil {
		return err
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = &debug.BuildInfo{GoVersion: runtime.Version()}
	}
	fmt.Println(versionLine(bi))
	return nil
}

// versionLine is the module's version, the commit (with its time, and
// "modified" when the work tree had changes) when the build recorded it, the
// Go version and the platform: "parley v1.2.0 (commit 1a2b3c4d5e6f,
// 2026-11-30T10:00:00Z) go1.26.8 linux/amd64".
func versionLine(bi *debug.BuildInfo) string {
	version := bi.Main.Version
	if version == "" {
		version = "(devel)"
	}
	var commit []string
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if rev := settings["vcs.revision"]; rev != "" {
		commit = append(commit, "commit "+rev[:min(12, len(rev))])
		if t := settings["vcs.time"]; t != "" {
			commit = append(commit, t)
		}
		if settings["vcs.modified"] == "true" {
			commit = append(commit, "modified")
		}
	}
	line := "parley " + version
	if len(commit) > 0 {
		line += " (" + strings.Join(commit, ", ") + ")"
	}
	platform := runtime.GOOS + "/" + runtime.GOARCH
	if settings["GOOS"] != "" && settings["GOARCH"] != "" {
		platform = settings["GOOS"] + "/" + settings["GOARCH"]
	}
	return line + " " + bi.GoVersion + " " + platform
}
