package main

import (
	"os"
	"runtime/debug"
)

// Garbage collector defaults for the server, unless GOGC or GOMEMLIMIT set
// them. A posting allocates about 50 KB (request and response messages, the
// batch's parameter arrays, pgx's encoding buffers) and keeps almost none
// of it, so at Go's default (GOGC=100, a collection each time the heap
// doubles) the collector took a fifth of the server's CPU under load. At
// 400 the server's CPU per request fell by a sixth, for a heap of about 100
// MB under load (docs/BENCHMARKS.md, "Planned once, fewer foreign keys, the
// partner's standing"); the soft limit keeps a server with a large live
// heap from growing fivefold, by collecting more often near it.
const (
	gcPercent     = 400
	gcMemoryLimit = 512 << 20
)

func tuneGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(gcMemoryLimit)
	}
}
