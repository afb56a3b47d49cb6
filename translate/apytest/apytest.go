// Package apytest runs a real apertium-apy (Debian's apertium-apy package,
// with the pairs installed under /usr/share/apertium/modes) on a loopback
// port for tests. CI installs it (.ci/run) and sets CI, so there a missing
// server fails the test; elsewhere the test is skipped.
package apytest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// Start runs apertium-apy on a free loopback port and returns its URL and a
// function that stops it (also called when the test ends).
func Start(t testing.TB) (url string, stop func()) {
	t.Helper()
	bin, err := exec.LookPath("apertium-apy")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("apertium-apy is not installed; .ci/run installs apertium-apy and apertium-eng-spa")
		}
		t.Skip("apertium-apy is not installed (Debian: apt-get install apertium-apy apertium-eng-spa)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "-p", fmt.Sprint(port), "/usr/share/apertium/modes")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() { once.Do(func() { cmd.Process.Kill(); cmd.Wait() }) }
	t.Cleanup(stop)
	url = fmt.Sprintf("http://127.0.0.1:%d", port)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get(url + "/listPairs"); err == nil {
			resp.Body.Close()
			return url, stop
		}
	}
	t.Fatal("apertium-apy did not answer within 30s")
	return "", stop
}
