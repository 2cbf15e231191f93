// Package vaultdev runs a real Vault server on loopback for dev mode and
// tests: in memory (`vault server -dev`) for tests, or with its data kept in
// a folder for dev mode, so that the coalition's CA and transit keys (and so
// partners' certificates and phone hashes) survive a restart.
package vaultdev

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// BinaryEnv names the environment variable holding the Vault binary's path;
// scripts/vault.sh builds the binary and prints it (`scripts/vault.sh path`).
const BinaryEnv = "COALITION_VAULT_BINARY"

// Binary returns the Vault binary to run.
func Binary() (string, error) {
	p := os.Getenv(BinaryEnv)
	if p == "" {
		return "", fmt.Errorf("vaultdev: $%s is not set: build Vault with scripts/vault.sh and export %s=$(scripts/vault.sh path) "+
			"(scripts/dev.sh and scripts/test.sh do this)", BinaryEnv, BinaryEnv)
	}
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("vaultdev: $%s: %w", BinaryEnv, err)
	}
	return p, nil
}

// Options say how to run Vault.
type Options struct {
	Binary string // Binary() if empty
	// DataDir keeps Vault's storage and its unseal key and root token
	// (mode 0600). Empty: an in-memory dev server, gone when stopped.
	DataDir string
	// Port on 127.0.0.1; 0 picks a free one.
	Port int
	Logf func(format string, args ...any)
}

// Server is a running Vault.
type Server struct {
	Addr  string // http://127.0.0.1:PORT
	Token string // root token
	cmd   *exec.Cmd
	done  chan struct{}
	once  sync.Once
	log   *os.File
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start runs Vault and waits until it is unsealed and answers.
func Start(ctx context.Context, o Options) (*Server, error) {
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	bin := o.Binary
	if bin == "" {
		var err error
		if bin, err = Binary(); err != nil {
			return nil, err
		}
	}
	port := o.Port
	if port == 0 {
		var err error
		if port, err = freePort(); err != nil {
			return nil, err
		}
	}
	listen := "127.0.0.1:" + strconv.Itoa(port)
	s := &Server{Addr: "http://" + listen, done: make(chan struct{})}
	var args []string
	logPath := filepath.Join(os.TempDir(), fmt.Sprintf("vaultdev-%d.log", port))
	if o.DataDir == "" {
		tok := make([]byte, 16)
		rand.Read(tok)
		s.Token = "dev-" + hex.EncodeToString(tok)
		args = []string{"server", "-dev", "-dev-root-token-id=" + s.Token, "-dev-listen-address=" + listen,
			"-dev-no-store-token", "-log-level=warn"}
	} else {
		if err := os.MkdirAll(filepath.Join(o.DataDir, "data"), 0o700); err != nil {
			return nil, err
		}
		conf := fmt.Sprintf(`storage "file" { path = %q }
listener "tcp" {
  address     = %q
  tls_disable = true
}
api_addr      = "http://%s"
disable_mlock = true
ui            = false
`, filepath.Join(o.DataDir, "data"), listen, listen)
		confPath := filepath.Join(o.DataDir, "vault.hcl")
		if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
			return nil, err
		}
		args = []string{"server", "-config=" + confPath, "-log-level=warn"}
		logPath = filepath.Join(o.DataDir, "vault.log")
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	s.log = logf
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	// Vault must not read a developer's own Vault settings.
	s.cmd.Env = append(os.Environ(), "VAULT_ADDR=", "VAULT_TOKEN=", "HOME="+os.TempDir())
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	o.Logf("starting Vault on %s", listen)
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("vaultdev: start %s: %w", bin, err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	if err := s.waitHTTP(ctx); err != nil {
		s.Stop()
		return nil, s.withLog(err)
	}
	if o.DataDir != "" {
		if err := s.initAndUnseal(ctx, o.DataDir); err != nil {
			s.Stop()
			return nil, s.withLog(err)
		}
	}
	if err := s.waitUnsealed(ctx); err != nil {
		s.Stop()
		return nil, s.withLog(err)
	}
	return s, nil
}

func (s *Server) withLog(err error) error {
	b, _ := os.ReadFile(s.log.Name())
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return fmt.Errorf("vaultdev: %w\n%s", err, b)
}

// waitHTTP waits until Vault answers on its port at all.
func (s *Server) waitHTTP(ctx context.Context) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return errors.New("vault exited at start")
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		resp, err := http.Get(s.Addr + "/v1/sys/seal-status")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("vault did not answer within 60s")
}

func (s *Server) waitUnsealed(ctx context.Context) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.Addr + "/v1/sys/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.New("vault not unsealed and active within 60s")
}

type initState struct {
	Keys      []string `json:"keys_base64"`
	RootToken string   `json:"root_token"`
}

// initAndUnseal initialises a new Vault (one key share, kept in DataDir with
// the root token: dev only) or unseals an existing one with the kept key.
func (s *Server) initAndUnseal(ctx context.Context, dir string) error {
	statePath := filepath.Join(dir, "init.json")
	var st initState
	if b, err := os.ReadFile(statePath); err == nil {
		if err := json.Unmarshal(b, &st); err != nil {
			return fmt.Errorf("read %s: %w", statePath, err)
		}
	} else {
		if err := s.post(ctx, "/v1/sys/init", map[string]any{"secret_shares": 1, "secret_threshold": 1}, &st); err != nil {
			return fmt.Errorf("init: %w", err)
		}
		b, _ := json.Marshal(st)
		if err := os.WriteFile(statePath, b, 0o600); err != nil {
			return err
		}
	}
	if len(st.Keys) == 0 {
		return fmt.Errorf("%s holds no unseal key", statePath)
	}
	if err := s.post(ctx, "/v1/sys/unseal", map[string]any{"key": st.Keys[0]}, nil); err != nil {
		return fmt.Errorf("unseal: %w", err)
	}
	s.Token = st.RootToken
	return nil
}

func (s *Server) post(ctx context.Context, path string, body, out any) error {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, "PUT", s.Addr+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: HTTP %d", path, resp.StatusCode)
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}

// Pause freezes Vault (SIGSTOP): it keeps its port and takes connections
// but answers nothing, as a hung Vault does. Resume lets it go on.
func (s *Server) Pause() error { return syscall.Kill(-s.cmd.Process.Pid, syscall.SIGSTOP) }

// Resume undoes Pause.
func (s *Server) Resume() error { return syscall.Kill(-s.cmd.Process.Pid, syscall.SIGCONT) }

// Stop ends Vault and waits for it, paused or not. Idempotent.
func (s *Server) Stop() error {
	s.once.Do(func() {
		if s.cmd.Process != nil {
			syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
			syscall.Kill(-s.cmd.Process.Pid, syscall.SIGCONT)
			select {
			case <-s.done:
			case <-time.After(10 * time.Second):
				syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
				<-s.done
			}
		}
		s.log.Close()
	})
	return nil
}

// Done is closed when the Vault process has exited.
func (s *Server) Done() <-chan struct{} { return s.done }
