package main

import (
	"os"
	"testing"
	"time"
)

func TestStatCPUAddsUserAndSystemTimeWhateverTheCommandName(t *testing.T) {
	for _, tc := range []struct {
		name, stat string
		want       time.Duration
	}{
		{"plain", "4242 (coalitiond) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 75 0 0 20 0 12 0 100 0 0", 3250 * time.Millisecond},
		{"spaces and parentheses in the name", "7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 1 0 0", 30 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := statCPU(tc.stat)
			if err != nil || got != tc.want {
				t.Fatalf("statCPU = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
	if _, err := statCPU("7 (x) R 1 2"); err == nil {
		t.Fatal("a short line was read")
	}
}

func TestReadUsageOfThisProcess(t *testing.T) {
	u, err := readUsage(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if u.RSS <= 0 || u.PeakRSS < u.RSS {
		t.Fatalf("RSS %d, peak %d: want a positive RSS no larger than the peak", u.RSS, u.PeakRSS)
	}
}
