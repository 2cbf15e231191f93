package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/coalition-loyalty/coalition/coalition/devenv/clock"
	"github.com/coalition-loyalty/coalition/coalition/devenv/pgtest"
	"github.com/coalition-loyalty/coalition/gateway/server"
	"github.com/coalition-loyalty/coalition/gateway/server/servertest"
	_ "github.com/coalition-loyalty/coalition/proto/coalition/v1" // registers the services the README calls
)

// TestREADMEWalkthrough sends the requests of the README's walkthrough, as
// written there, to the demo coalition served as dev mode serves it, and
// checks each answer the README prints after them, so that a newcomer who
// follows it gets the figures it promises.
//
// The README's shell is read literally: a line `CALL=<method> as <partner>
// -d '<json>'` is a gRPC call (the partner's dev credentials stand for its
// certificate: the server takes the partner from either), a `curl` line a
// REST call, `VAR=...   # <path> from the answer` takes a value of the last
// answer for the `'$VAR'` of later requests, and a block fenced as
// "json answer" or "text answer" is the last call's answer: every field it
// shows must be in the real answer with that value, `…` matching anything.
//
// Nothing in the walkthrough depends on the day (its cinema visit is a
// burn, and the cinema's weekend bonus is for purchases), so the figures
// hold every day: it runs on a Wednesday and on a Saturday night in Moscow,
// whose minutes between requests cross midnight into Sunday.
func TestREADMEWalkthrough(t *testing.T) {
	readme, err := os.ReadFile("../../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := markdownSection(t, string(readme), "## Walkthrough: earn at one partner, spend at another")

	moscow, err := time.LoadLocation(Settings.TimeZone)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		now  time.Time
	}{
		{"Wednesday noon", time.Date(2026, 11, 25, 12, 0, 0, 0, moscow)},
		{"Saturday, before midnight", time.Date(2026, 11, 28, 23, 50, 0, 0, moscow)},
	} {
		t.Run(c.name, func(t *testing.T) { walkThrough(t, section, c.now) })
	}
}

// walkThrough follows the walkthrough's section of the README on a demo
// coalition whose business clock starts at now.
func walkThrough(t *testing.T, section string, now time.Time) {
	clk := clock.NewManual(now)
	srv := servertest.Start(t, server.Config{
		Pool:          pgtest.NewDB(t),
		DevAuth:       true,
		PhoneHashKey:  servertest.PhoneHashKey,
		Settings:      Settings,
		HTTPAddr:      "127.0.0.1:0",
		HTTPPlaintext: true,
		Now:           clk.Now,
		Seed: func(ctx context.Context, s *server.Server) error {
			_, err := Seed(ctx, NewEnv(s.Tx(), s.Phones(), Settings, s.Clock()))
			return err
		},
	})
	conn, err := grpc.NewClient(srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })

	w := walk{t: t, conn: conn, httpAddr: srv.HTTPAddr(), vars: map[string]string{}}
	for _, b := range fencedBlocks(section) {
		switch b.info {
		case "sh":
			for _, line := range shellLines(b.body) {
				w.run(line)
			}
		case "json answer", "text answer":
			w.check(b.info, b.body)
		}
		// A person takes a while between two requests.
		clk.Advance(time.Minute)
	}
	if w.calls < 10 || w.checked < 10 {
		t.Fatalf("the walkthrough makes %d calls and shows %d answers: has its form changed?", w.calls, w.checked)
	}
	if w.answer != nil {
		t.Fatalf("the last call, %s, has no answer in the README", w.last)
	}
	breaches, err := srv.Ledger().Check(context.Background(), time.Hour)
	if err != nil || len(breaches) > 0 {
		t.Fatalf("ledger check after the walkthrough: %v %v", breaches, err)
	}
}

// walk is the walkthrough's shell: its variables and the last answer.
type walk struct {
	t        *testing.T
	conn     *grpc.ClientConn
	httpAddr string
	vars     map[string]string
	// The last call and its answer (a JSON value or an error), until the
	// README shows it.
	last   string
	answer any
	err    error
	// The last answer, kept for `VAR=...` lines after it was checked.
	previous any
	calls    int
	checked  int
}

var (
	grpcCall = regexp.MustCompile(`^CALL=(\S+) as (\S+) -d '(.*)'$`)
	restCall = regexp.MustCompile(`^curl -s -H 'Authorization: (Dev \S+)' "http://127\.0\.0\.1:8080(/\S+)"$`)
	fromLast = regexp.MustCompile(`^([A-Z][A-Z0-9_]*)=\.\.\.\s+# (\S+) from the answer`)
	shellVar = regexp.MustCompile(`'?\$([A-Z][A-Z0-9_]*)'?`)
)

func (w *walk) run(line string) {
	t := w.t
	t.Helper()
	if m := fromLast.FindStringSubmatch(line); m != nil {
		ans := w.answer
		if ans == nil {
			ans = w.previous
		}
		v, ok := jsonPath(ans, m[2]).(string)
		if !ok || v == "" {
			t.Fatalf("%s: no %s in the answer %v", line, m[2], ans)
		}
		w.vars[m[1]] = v
		return
	}
	var body []byte
	var err error
	switch m := grpcCall.FindStringSubmatch(line); {
	case m != nil:
		body, err = w.grpc(m[1], m[2], w.expand(m[3]))
	case restCall.MatchString(line):
		m := restCall.FindStringSubmatch(line)
		body, err = w.rest(m[1], w.expand(m[2]))
	default:
		return // not a request: installing grpcurl, the helpers, the CLI
	}
	if w.answer != nil || w.err != nil {
		t.Fatalf("the README shows no answer to %s", w.last)
	}
	w.calls++
	w.last, w.err, w.answer = line, err, nil
	if err == nil {
		if err := json.Unmarshal(body, &w.answer); err != nil {
			t.Fatalf("%s: answer %s: %v", line, body, err)
		}
	}
}

// expand replaces the shell's variables, quoted or not.
func (w *walk) expand(s string) string {
	return shellVar.ReplaceAllStringFunc(s, func(v string) string {
		name := shellVar.FindStringSubmatch(v)[1]
		val, ok := w.vars[name]
		if !ok {
			w.t.Fatalf("$%s used before the walkthrough set it", name)
		}
		return val
	})
}

// grpc calls method as partner with the request in JSON, as grpcurl does,
// and returns the answer as grpcurl prints it (protojson, JSON names).
func (w *walk) grpc(method, partner, request string) ([]byte, error) {
	w.t.Helper()
	service, name, _ := strings.Cut(method, "/")
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(service))
	if err != nil {
		w.t.Fatalf("%s: %v", method, err)
	}
	md := d.(protoreflect.ServiceDescriptor).Methods().ByName(protoreflect.Name(name))
	if md == nil {
		w.t.Fatalf("no method %s", method)
	}
	newMessage := func(n protoreflect.FullName) protoreflect.ProtoMessage {
		mt, err := protoregistry.GlobalTypes.FindMessageByName(n)
		if err != nil {
			w.t.Fatal(err)
		}
		return mt.New().Interface()
	}
	req, res := newMessage(md.Input().FullName()), newMessage(md.Output().FullName())
	if err := protojson.Unmarshal([]byte(request), req); err != nil {
		w.t.Fatalf("%s: request %s: %v", method, request, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Dev "+partner)
	if err := w.conn.Invoke(ctx, "/"+method, req, res); err != nil {
		return nil, err
	}
	return protojson.Marshal(res)
}

// rest is curl's GET.
func (w *walk) rest(auth, path string) ([]byte, error) {
	w.t.Helper()
	req, err := http.NewRequest("GET", "http://"+w.httpAddr+path, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	req.Header.Set("Authorization", auth)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		w.t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d: %s", res.StatusCode, body)
	}
	return body, nil
}

// check compares the last answer with the one the README shows.
func (w *walk) check(kind, shown string) {
	t := w.t
	t.Helper()
	if w.answer == nil && w.err == nil {
		t.Fatalf("the README shows an answer with no request before it:\n%s", shown)
	}
	w.checked++
	switch kind {
	case "json answer":
		if w.err != nil {
			t.Fatalf("%s\nwas refused: %v\nthe README shows:\n%s", w.last, w.err, shown)
		}
		var want any
		if err := json.Unmarshal([]byte(shown), &want); err != nil {
			t.Fatalf("the README's answer to %s is not JSON: %v\n%s", w.last, err, shown)
		}
		if diff := matchJSON("", want, w.answer); diff != "" {
			got, _ := json.MarshalIndent(w.answer, "", "  ")
			t.Fatalf("%s\nanswers:\n%s\nthe README shows:\n%s\n%s", w.last, got, shown, diff)
		}
	case "text answer":
		// grpcurl prints a refusal as "ERROR:", its code and its message.
		if w.err == nil {
			got, _ := json.Marshal(w.answer)
			t.Fatalf("%s\nanswers %s; the README shows a refusal:\n%s", w.last, got, shown)
		}
		st := status.Convert(w.err)
		got := fmt.Sprintf("ERROR:\n  Code: %s\n  Message: %s", st.Code(), st.Message())
		if !glob(strings.TrimSpace(shown), got) {
			t.Fatalf("%s\nis refused:\n%s\nthe README shows:\n%s", w.last, got, shown)
		}
	}
	w.previous, w.answer, w.err = w.answer, nil, nil
}

// matchJSON says where got differs from want: every field of want must be
// in got with the same value; "…" in a string matches any text.
func matchJSON(path string, want, got any) string {
	switch want := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: %v, want an object", path, got)
		}
		for k, v := range want {
			gv, ok := g[k]
			if !ok {
				return fmt.Sprintf("%s.%s: missing", path, k)
			}
			if d := matchJSON(path+"."+k, v, gv); d != "" {
				return d
			}
		}
		return ""
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(want) {
			return fmt.Sprintf("%s: %v, want %d elements", path, got, len(want))
		}
		for i := range want {
			if d := matchJSON(fmt.Sprintf("%s[%d]", path, i), want[i], g[i]); d != "" {
				return d
			}
		}
		return ""
	case string:
		if g, ok := got.(string); ok && glob(want, g) {
			return ""
		}
		return fmt.Sprintf("%s: %v, want %q", path, got, want)
	}
	if !reflect.DeepEqual(want, got) {
		return fmt.Sprintf("%s: %v, want %v", path, got, want)
	}
	return ""
}

// glob matches s against pattern, where "…" matches any text.
func glob(pattern, s string) bool {
	parts := strings.Split(pattern, "…")
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for i, p := range parts[1:] {
		if i == len(parts)-2 {
			return strings.HasSuffix(s, p)
		}
		j := strings.Index(s, p)
		if j < 0 {
			return false
		}
		s = s[j+len(p):]
	}
	return s == ""
}

// jsonPath reads a dotted path, such as member.cardNumber, from a JSON value.
func jsonPath(v any, path string) any {
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// markdownSection is the text under heading, up to the next heading of
// its level.
func markdownSection(t *testing.T, doc, heading string) string {
	t.Helper()
	_, rest, ok := strings.Cut(doc, "\n"+heading+"\n")
	if !ok {
		t.Fatalf("the README has no %q", heading)
	}
	level := heading[:strings.IndexByte(heading, ' ')+1]
	if i := strings.Index(rest, "\n"+level); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

type fenced struct{ info, body string }

// fencedBlocks are the ``` blocks of a Markdown text, in order.
func fencedBlocks(doc string) []fenced {
	var out []fenced
	lines := strings.Split(doc, "\n")
	for i := 0; i < len(lines); i++ {
		info, ok := strings.CutPrefix(strings.TrimSpace(lines[i]), "```")
		if !ok {
			continue
		}
		var body []string
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			body = append(body, lines[i])
		}
		out = append(out, fenced{info: strings.TrimSpace(info), body: strings.Join(body, "\n")})
	}
	return out
}

// shellLines joins a shell block's continued lines (a trailing backslash,
// or a quote still open) into one line each.
func shellLines(block string) []string {
	var out []string
	var cur strings.Builder
	for _, l := range strings.Split(block, "\n") {
		if cur.Len() > 0 {
			cur.WriteString(" ")
		}
		cur.WriteString(strings.TrimSpace(strings.TrimSuffix(l, "\\")))
		if strings.HasSuffix(l, "\\") || strings.Count(cur.String(), "'")%2 == 1 {
			continue
		}
		out = append(out, cur.String())
		cur.Reset()
	}
	return out
}
