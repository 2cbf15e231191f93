package server

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// listenPprof opens the profiler's listener. Profiles show the server's
// code paths and timings, so they are never offered beyond the machine: a
// non-loopback address is refused.
func (s *Server) listenPprof() error {
	addr := s.cfg.PprofAddr
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("--pprof-listen %q: %w", addr, err)
	}
	if !loopback(addr) {
		return fmt.Errorf("--pprof-listen %q: the profiler listens on loopback only", addr)
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--pprof-listen: %w", err)
	}
	s.onClose(func() { lis.Close() })
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	s.pprof, s.pprofLis = s.newHTTPServer(mux), lis
	// A CPU profile or a trace answers after the time it records
	// (?seconds=, 30 by default): up to 5 minutes.
	s.pprof.WriteTimeout = max(s.pprof.WriteTimeout, 5*time.Minute+10*time.Second)
	return nil
}
