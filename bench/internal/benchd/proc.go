package benchd

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Memory is a process's resident memory in MiB, from /proc/PID/status.
type Memory struct {
	RSS  float64 // VmRSS: resident now
	Anon float64 // RssAnon: of it, the process's own memory (the rest is mapped files: bbolt's pages)
	Peak float64 // VmHWM: the most it was resident
}

// ReadMemory reads pid's VmRSS and VmHWM (zero where they cannot be read).
func ReadMemory(pid int) Memory {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}
	}
	var m Memory
	for _, line := range strings.Split(string(b), "\n") {
		name, v, _ := strings.Cut(line, ":")
		f := strings.Fields(v) // "123456 kB"
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		kb, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		switch name {
		case "VmRSS":
			m.RSS = round1(kb / 1024)
		case "RssAnon":
			m.Anon = round1(kb / 1024)
		case "VmHWM":
			m.Peak = round1(kb / 1024)
		}
	}
	return m
}

func round1(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }

// CPUSeconds is the user and system CPU time a process has used so far, from
// its /proc/PID/stat ("self" for this one; fields 14 and 15, in ticks of
// 1/100 s, Linux's USER_HZ), or 0 where that cannot be read.
func CPUSeconds(pid string) float64 {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; the fields after it don't.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3
	if len(f) < 13 {
		return 0
	}
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return (utime + stime) / 100
}
