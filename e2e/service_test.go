package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// contrib/parley.service passes `systemd-analyze verify` (with ExecStart on
// the binary just built: verify wants it to exist), keeps the hardening the
// daemon is documented to run under, and stays at an exposure of 2.0 or less
// by `systemd-analyze security`.
func TestSystemdUnitVerifies(t *testing.T) {
	tool, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("systemd-analyze missing (Debian package systemd); .ci/run installs it")
		}
		t.Skip("systemd-analyze not installed (Debian package systemd)")
	}
	unit, err := os.ReadFile(filepath.Join("..", "contrib", "parley.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"User=parley", "StateDirectory=parley", "UMask=0077", "Restart=on-failure",
		"AmbientCapabilities=CAP_NET_BIND_SERVICE", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "NoNewPrivileges=yes",
		"ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "PrivateDevices=yes",
		"RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX", "SystemCallFilter=@system-service",
		"MemoryDenyWriteExecute=yes", "LockPersonality=yes", "RestrictNamespaces=yes",
		"ProtectKernelTunables=yes", "ProtectKernelModules=yes", "ProtectKernelLogs=yes",
	} {
		if !strings.Contains(string(unit), "\n"+want+"\n") {
			t.Errorf("contrib/parley.service has no line %q", want)
		}
	}
	const exec0 = "\nExecStart=/usr/local/bin/parley serve "
	if !strings.Contains(string(unit), exec0) {
		t.Fatalf("contrib/parley.service: no %q line to point at the test binary", strings.TrimSpace(exec0))
	}
	path := filepath.Join(t.TempDir(), "parley.service")
	if err := os.WriteFile(path, []byte(strings.Replace(string(unit), exec0, "\nExecStart="+parleyBin+" serve ", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	// verify exits 0 on unknown keys, with a warning: any output fails.
	out, err := exec.Command(tool, "verify", path).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	// The threshold is in tenths: 20 is the "2.0" the tool prints.
	out, err = exec.Command(tool, "security", "--offline=true", "--threshold=20", path).CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze security: exposure above 2.0 (%v):\n%s", err, out)
	}
}
