package main

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/coalition-loyalty/coalition/coalition"
)

func TestAReturnWindowReadsInDays(t *testing.T) {
	for _, c := range []struct {
		in   time.Duration
		want string
	}{
		{14 * 24 * time.Hour, "14d"},
		{0, "0d"},
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
