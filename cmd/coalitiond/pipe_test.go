package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// TestAClosedOutputPipeDoesNotKillTheProcess runs this test binary again
// with its standard output a pipe whose reader is gone, as after
// `coalitiond dev | tee log` when tee ends: the write must fail, and the
// process live on to stop what it started.
func TestAClosedOutputPipeDoesNotKillTheProcess(t *testing.T) {
	if os.Getenv("COALITION_PIPE_CHILD") == "1" {
		surviveClosedPipes()
		_, err := fmt.Fprintln(os.Stdout, "banner")
		if !errors.Is(err, syscall.EPIPE) {
			fmt.Fprintln(os.Stderr, "write to a closed pipe:", err)
			os.Exit(3)
		}
		os.Exit(0) // alive, as the dev command must be
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close() // nobody reads
	child := exec.Command(os.Args[0], "-test.run=^TestAClosedOutputPipeDoesNotKillTheProcess$")
	child.Env = append(os.Environ(), "COALITION_PIPE_CHILD=1")
	child.Stdout = w
	var out bytes.Buffer
	child.Stderr = &out
	err = child.Run()
	w.Close()
	if err != nil {
		t.Fatalf("the process writing to a closed pipe: %v %s", err, out.String())
	}
}
