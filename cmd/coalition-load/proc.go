package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// usage is what a server process on this machine has used: its CPU time
// (user and system) and its resident set, now and at its peak.
type usage struct {
	CPU          time.Duration
	RSS, PeakRSS int64 // bytes
}

// userHZ is the unit of the CPU times in /proc/<pid>/stat: USER_HZ, 100 on
// every Linux architecture Go runs on.
const userHZ = 100

// readUsage reads a process's usage from /proc.
func readUsage(pid int) (usage, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return usage{}, err
	}
	cpu, err := statCPU(string(stat))
	if err != nil {
		return usage{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return usage{}, err
	}
	u := usage{CPU: cpu}
	for line := range strings.Lines(string(status)) {
		name, value, _ := strings.Cut(line, ":")
		var into *int64
		switch name {
		case "VmRSS":
			into = &u.RSS
		case "VmHWM":
			into = &u.PeakRSS
		default:
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			return usage{}, fmt.Errorf("/proc/%d/status: %q: %w", pid, line, err)
		}
		*into = kb * 1024
	}
	return u, nil
}

// statCPU reads utime and stime, fields 14 and 15 of a /proc/<pid>/stat
// line. The command name, field 2, is in parentheses and may hold spaces
// and parentheses itself, so the fields are counted from after its last
// closing parenthesis.
func statCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("no command name in %q", stat)
	}
	f := strings.Fields(stat[i+1:]) // from field 3 on
	if len(f) < 13 {
		return 0, fmt.Errorf("too few fields in %q", stat)
	}
	var ticks int64
	for _, s := range f[14-3 : 15-3+1] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}
