package web

import (
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestTimesShowAsTheCoalitionsClocksRead(t *testing.T) {
	moscow, err := time.LoadLocation("Europe/Moscow")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	// 22:30 UTC on 9 March is 01:30 on 10 March in Moscow.
	ts := timestamppb.New(time.Date(2026, 3, 9, 22, 30, 0, 0, time.UTC))
	f := zoned(moscow)
	for _, c := range []struct {
		fn, lang, want string
	}{
		{"datetime", "en", "10 Mar 2026, 01:30 MSK"},
		{"datetime", "ru", "10\u00a0марта 2026, 01:30 MSK"},
		{"date", "en", "10 Mar 2026"},
	} {
		got := f[c.fn].(func(string, *timestamppb.Timestamp) string)(c.lang, ts)
		if got != c.want {
			t.Errorf("%s in %s = %q, want %q", c.fn, c.lang, got, c.want)
		}
	}
	if got := zoned(nil)["datetime"].(func(string, *timestamppb.Timestamp) string)("en", ts); got != "9 Mar 2026, 22:30 UTC" {
		t.Errorf("without a zone: %q, want UTC", got)
	}
}
