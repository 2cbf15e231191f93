package main

import (
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"

	"github.com/coalition-loyalty/coalition/cmd/coalitiond/internal/demo"
)

// devPorts are the ports dev mode's PostgreSQL and Vault listened on, kept
// in the data dir so that the next start reuses them and `source .dev/env`
// from an earlier start stays right.
type devPorts struct {
	PostgreSQL int `json:"postgresql"`
	Vault      int `json:"vault"`
}

const portsFile = "ports.json"

// loadPorts reads the ports of the last start; none on the first.
func loadPorts(dir string) devPorts {
	var p devPorts
	if b, err := os.ReadFile(filepath.Join(dir, portsFile)); err == nil {
		_ = json.Unmarshal(b, &p) // a damaged file means new ports
	}
	return p
}

func (p devPorts) save(dir string) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, portsFile), append(b, '\n'), 0o600)
}

// reuse is port if it is free on loopback, else 0: pick a new one (and
// the env file is written anew with it).
func (devPorts) reuse(port int) int {
	if port == 0 {
		return 0
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return 0
	}
	l.Close()
	return port
}

// portOfURL is the port of an address such as http://127.0.0.1:8200.
func portOfURL(addr string) int {
	u, err := url.Parse(addr)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(u.Port())
	return n
}

// demoMember is what the banner shows of a demo member.
type demoMember struct {
	Name  string `json:"name"`
	Card  string `json:"card"`
	Phone string `json:"phone"`
}

const membersFile = "demo-members.json"

// demoMembers keeps the members seeded on the first start in dir, and
// returns them on every start, so that the banner always shows their cards.
func demoMembers(dir string, seeded []demo.Member) ([]demoMember, error) {
	path := filepath.Join(dir, membersFile)
	if len(seeded) > 0 {
		ms := make([]demoMember, 0, len(seeded))
		for _, m := range seeded {
			ms = append(ms, demoMember{Name: m.Name, Card: m.CardNumber, Phone: m.Phone})
		}
		b, err := json.MarshalIndent(ms, "", "  ")
		if err != nil {
			return ms, err
		}
		return ms, os.WriteFile(path, append(b, '\n'), 0o600)
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // a data dir from before the file was kept
	}
	if err != nil {
		return nil, err
	}
	var ms []demoMember
	return ms, json.Unmarshal(b, &ms)
}
