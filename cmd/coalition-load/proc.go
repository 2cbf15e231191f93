package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
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
// line.
func statCPU(stat string) (time.Duration, error) {
	f, err := statFields(stat, 15)
	if err != nil {
		return 0, err
	}
	return ticks(f[14-3 : 15-3+1])
}

// statFields returns the fields of a /proc/<pid>/stat line from field 3 on,
// at least up to field last. The command name, field 2, is in parentheses
// and may hold spaces and parentheses itself, so the fields are counted
// from after its last closing parenthesis.
func statFields(stat string, last int) ([]string, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return nil, fmt.Errorf("no command name in %q", stat)
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < last-2 {
		return nil, fmt.Errorf("too few fields in %q", stat)
	}
	return f, nil
}

func ticks(fields []string) (time.Duration, error) {
	var n int64
	for _, s := range fields {
		t, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, err
		}
		n += t
	}
	return time.Duration(n) * time.Second / userHZ, nil
}

// treeCPU is the CPU time used by a process and its children: a
// PostgreSQL postmaster and its backends and workers. A child that has
// ended is counted in its parent's cutime and cstime (fields 16 and 17),
// which the postmaster collects as it reaps it, and a live one by its own
// utime and stime; so the difference of two readings holds the backends
// that ended between them too.
func treeCPU(pid int) (time.Duration, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	f, err := statFields(string(stat), 17)
	if err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	total, err := ticks(f[14-3 : 17-3+1])
	if err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	parent := strconv.Itoa(pid)
	for _, p := range procs {
		if _, err := strconv.Atoi(p.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + p.Name() + "/stat")
		if err != nil {
			continue // ended since the listing
		}
		f, err := statFields(string(stat), 15)
		if err != nil || f[4-3] != parent {
			continue
		}
		t, err := ticks(f[14-3 : 15-3+1])
		if err != nil {
			return 0, fmt.Errorf("/proc/%s/stat: %w", p.Name(), err)
		}
		total += t
	}
	return total, nil
}

// selfCPU is the CPU time this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
