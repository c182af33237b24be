package lab

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"
)

// PprofEnv, set to a TCP address (say 127.0.0.1:6060) in the environment
// of lab up, makes the lab process serve Go's profiles there
// (/debug/pprof/, as net/http/pprof): where an idle or a busy lab spends
// its CPU, measured on the process itself. Off unless set: the endpoint
// has no authentication.
const PprofEnv = "SECYLAB_PPROF"

// servePprof listens on $SECYLAB_PPROF, if set, in the lab process's own
// namespace. A port in use fails the lab at start, as the control
// endpoint's does.
func servePprof(log *slog.Logger) (stop func(), err error) {
	addr := os.Getenv(PprofEnv)
	if addr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s=%s: %w", PprofEnv, addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Info("profiles served", "listen", ln.Addr().String(), "env", PprofEnv)
	go srv.Serve(ln)
	return func() { srv.Close() }, nil
}
