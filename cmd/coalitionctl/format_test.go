package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/rules"
)

func TestAReturnWindowReadsInDays(t *testing.T) {
	for _, c := range []struct {
		in   time.Duration
		want string
	}{
		{14 * 24 * time.Hour, "14d"},
		{0, "none"},                 // points are never pending
		{36 * time.Hour, "36h0m0s"}, // not whole days: as given
	} {
		if got := days(c.in); got != c.want {
			t.Errorf("days(%s) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestPartnersAreNamedByTheirCodes(t *testing.T) {
	cafe, other := coalition.PartnerID(uuid.New()), coalition.PartnerID(uuid.New())
	cs := codes{cafe: "cafe"}
	if got := cs.of(cafe); got != "cafe" {
		t.Errorf("a known partner shows as %q, want its code", got)
	}
	if got := cs.of(other); got != other.String() {
		t.Errorf("an unknown partner shows as %q, want its id", got)
	}
}

// The help of every command names the environment variables of its flags,
// rotate-cert has its own usage, and the words of partners' help match its
// commands.
func TestTheHelpSaysWhatTheCommandsAre(t *testing.T) {
	cmd := root()
	rotate, _, err := cmd.Find([]string{"partners", "rotate-cert"})
	if err != nil || rotate.Name() != "rotate-cert" || !strings.Contains(rotate.UseLine(), "rotate-cert CODE") {
		t.Fatalf("rotate-cert: %v, %v", rotate.UseLine(), err)
	}
	if f := rotate.Flags().Lookup("bundle-dir"); f == nil || !strings.Contains(f.Usage, "$COALITION_BUNDLE_DIR") {
		t.Errorf("rotate-cert --bundle-dir's help does not name its variable: %+v", f)
	}
	report, _, _ := cmd.Find([]string{"settlement", "report"})
	if f := report.Flags().Lookup("partner"); f == nil || !strings.Contains(f.Usage, "$COALITION_PARTNER") {
		t.Errorf("settlement report --partner's help does not name its variable")
	}
	partnersCmd, _, _ := cmd.Find([]string{"partners"})
	if strings.Contains(partnersCmd.Short, "reactivate") {
		t.Errorf("partners says %q, but the command is activate", partnersCmd.Short)
	}
	for _, area := range []string{"partners", "members", "settlement", "vault", "apikeys", "rules", "staff"} {
		if !strings.Contains(cmd.Long, area) {
			t.Errorf("coalitionctl's description leaves out %s", area)
		}
	}
}

// rules show > f; rules check f: what show prints has no effective_from in
// the past (nor a version), which check and set would refuse.
func TestRulesShowPrintsWhatCheckAccepts(t *testing.T) {
	seven := int64(700)
	inForce := rules.RuleSet{Version: 3, EffectiveFrom: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Note: "winter",
		Partners: []rules.PartnerRules{{Partner: "cafe", RateBP: &seven}}}
	b, err := json.Marshal(editable(inForce))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "effective_from") || strings.Contains(string(b), "version") {
		t.Fatalf("show prints %s", b)
	}
	back, err := rules.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !back.EffectiveFrom.IsZero() || back.Note != "winter" || back.BaseRateBP("cafe", 500) != 700 {
		t.Fatalf("read back as %+v", back)
	}
}
