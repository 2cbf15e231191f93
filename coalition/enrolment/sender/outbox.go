package sender

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// Outbox is dev mode's sender: each message becomes a file in Dir,
// <UTC time>-<sequence>-<random>.txt, readable by its owner only, holding a "To:" and
// a "Date:" line, a blank line and the text. Nothing leaves the machine.
type Outbox struct {
	Dir   string
	Clock func() time.Time
	// seq orders the files of one process that share a time.
	seq atomic.Int64
}

// NewOutbox makes the folder if need be.
func NewOutbox(dir string, clock func() time.Time) (*Outbox, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	if clock == nil {
		clock = time.Now
	}
	return &Outbox{Dir: dir, Clock: clock}, nil
}

// Send writes the message to a new file: whole or not at all, so a
// reader never sees half of one.
func (o *Outbox) Send(_ context.Context, to, text string) error {
	r := make([]byte, 4)
	if _, err := rand.Read(r); err != nil {
		return err
	}
	now := o.Clock().UTC()
	name := fmt.Sprintf("%s-%06d-%s.txt", now.Format("20060102T150405.000000Z"), o.seq.Add(1), hex.EncodeToString(r))
	body := "To: " + to + "\nDate: " + now.Format(time.RFC3339) + "\n\n" + text + "\n"
	tmp, err := os.CreateTemp(o.Dir, ".sending-*")
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(body); err != nil {
		tmp.Close()
		return fmt.Errorf("outbox: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(o.Dir, name)); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	return nil
}

// Message is one file of an outbox.
type Message struct {
	Path string
	To   string
	Text string
}

// ReadOutbox reads every message in dir, oldest first.
func ReadOutbox(dir string) ([]Message, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		return nil, err
	}
	slices.Sort(names) // the names start with the time
	var out []Message
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			return nil, err
		}
		head, text, _ := strings.Cut(string(b), "\n\n")
		m := Message{Path: n, Text: strings.TrimSuffix(text, "\n")}
		for _, line := range strings.Split(head, "\n") {
			if v, ok := strings.CutPrefix(line, "To: "); ok {
				m.To = v
			}
		}
		out = append(out, m)
	}
	return out, nil
}
