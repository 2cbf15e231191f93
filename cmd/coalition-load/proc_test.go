package main

import (
	"os"
	"os/exec"
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

// A child that burns CPU and ends is still counted: the database's
// backends come and go during a run.
func TestTreeCPUCountsAChildThatEnded(t *testing.T) {
	before, err := treeCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	burn := exec.Command("sh", "-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done")
	if err := burn.Run(); err != nil {
		t.Fatal(err)
	}
	child := burn.ProcessState.UserTime() + burn.ProcessState.SystemTime()
	after, err := treeCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// The kernel counts in ticks of 10 ms, Go's ProcessState in finer units.
	if got := after - before; got < child-20*time.Millisecond {
		t.Fatalf("tree CPU grew by %v over a child that used %v", got, child)
	}
	if child < 50*time.Millisecond {
		t.Fatalf("the child used %v: too little to tell", child)
	}
}
