package passes_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/coalition-loyalty/coalition/coalition/passes"
	"github.com/coalition-loyalty/coalition/coalition/passes/passestest"
)

type passFile struct {
	SerialNumber        string `json:"serialNumber"`
	AuthenticationToken string `json:"authenticationToken"`
	Barcodes            []struct {
		Message string `json:"message"`
		AltText string `json:"altText"`
	} `json:"barcodes"`
	StoreCard struct {
		PrimaryFields []struct {
			Key           string          `json:"key"`
			Value         json.RawMessage `json:"value"`
			ChangeMessage string          `json:"changeMessage"`
		} `json:"primaryFields"`
	} `json:"storeCard"`
}

func unzip(t *testing.T, archive []byte) map[string][]byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(archive), int64(len(archive)))
	if err != nil {
		t.Fatalf("the pass does not unzip: %v", err)
	}
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		files[f.Name], err = io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	return files
}

func passJSON(t *testing.T, files map[string][]byte) passFile {
	t.Helper()
	var p passFile
	if err := json.Unmarshal(files["pass.json"], &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p passFile) balance() string { return string(p.StoreCard.PrimaryFields[0].Value) }

func TestEnqueueWritesEachEventOnceAndOnlyForMembersWithAPass(t *testing.T) {
	w := newWorld(t)
	earn := w.accrue(15000_00)
	if n := w.enqueue(w.earned(earn)); n != 0 {
		t.Fatalf("an event for a member without a pass wrote %d rows", n)
	}
	w.withPass()
	if n := w.enqueue(w.earned(earn)); n != 1 {
		t.Fatalf("the event wrote %d rows, want 1", n)
	}
	if n := w.enqueue(w.earned(earn)); n != 0 {
		t.Fatalf("the same event again wrote %d rows, want none", n)
	}
}

// The till scans the QR code of the member page, which holds the member's
// QR token: the pass's barcode holds the same, with the card number as its
// text for a cashier to key in.
func TestThePassBarcodeHoldsWhatTheTillScans(t *testing.T) {
	w := newWorld(t)
	p := passJSON(t, unzip(t, w.memberPass()))
	n := w.member.CardNumber
	if len(p.Barcodes) != 1 || p.Barcodes[0].Message != w.member.QRToken || p.Barcodes[0].AltText != n[:4]+" "+n[4:8]+" "+n[8:12]+" "+n[12:] {
		t.Fatalf("barcodes = %+v, want the QR token %q with the card number", p.Barcodes, w.member.QRToken)
	}
	// Each download carries a token of its own; the earlier ones still work.
	again := passJSON(t, unzip(t, w.memberPass()))
	if again.SerialNumber != p.SerialNumber || again.AuthenticationToken == p.AuthenticationToken {
		t.Fatalf("second download: serial %s token same %v", again.SerialNumber, again.AuthenticationToken == p.AuthenticationToken)
	}
	for _, tok := range []string{p.AuthenticationToken, again.AuthenticationToken} {
		if _, err := w.passes.LatestPass(w.ctx, passType, p.SerialNumber, tok, time.Time{}); err != nil {
			t.Fatalf("a downloaded token is refused: %v", err)
		}
	}
	if _, err := w.passes.LatestPass(w.ctx, passType, p.SerialNumber, "not-the-token-of-this-pass", time.Time{}); !errors.Is(err, passes.ErrUnauthorized) {
		t.Fatalf("a wrong token: %v, want ErrUnauthorized", err)
	}
}

func TestADeliveredEventUpdatesThePassWakesTheDeviceAndTellsGoogle(t *testing.T) {
	w := newWorld(t)
	serial, token := w.withPass()
	before, ok, err := w.passes.UpdatedSerials(w.ctx, "device-1", passType, "")
	if err != nil || !ok {
		t.Fatalf("updated serials = %+v %v %v", before, ok, err)
	}
	w.clock.Advance(time.Minute)
	earn := w.accrue(15000_00) // 750 points
	w.enqueue(w.earned(earn))
	if n := w.deliver(); n != 1 {
		t.Fatalf("delivered %d events, want 1", n)
	}
	if !w.outbox(earn.ID).delivered {
		t.Fatal("the event is not marked delivered")
	}

	pushes := w.apns.Pushes()
	if len(pushes) != 1 {
		t.Fatalf("APNs got %d pushes, want 1", len(pushes))
	}
	p := pushes[0]
	if p.Proto != 2 || p.DeviceToken != pushToken || p.Topic != passType || p.PushType != "background" || p.Body != "{}" {
		t.Fatalf("push = %+v", p)
	}
	if err := passestest.VerifyProviderToken(p.Authorization, &w.push.PublicKey, apnsKey, team); err != nil {
		t.Fatalf("provider token: %v", err)
	}

	patches := w.google.Patches()
	if len(patches) != 1 || patches[0].ID != w.objectID() || patches[0].LoyaltyPoints.Balance.Int == nil || *patches[0].LoyaltyPoints.Balance.Int != 750 {
		t.Fatalf("google patches = %+v, want the object with 750 points", patches)
	}
	msgs := w.google.Messages(w.objectID())
	if len(msgs) != 1 || msgs[0].ID != earn.ID.String() || msgs[0].Body != "+750 points at Coffee Corner" || msgs[0].MessageType != "TEXT_AND_NOTIFY" {
		t.Fatalf("google messages = %+v", msgs)
	}

	// The device, woken, asks what changed since its tag and fetches it.
	after, ok, err := w.passes.UpdatedSerials(w.ctx, "device-1", passType, before.LastUpdated)
	if err != nil || !ok || len(after.SerialNumbers) != 1 || after.SerialNumbers[0] != serial || after.LastUpdated == before.LastUpdated {
		t.Fatalf("updated since %s = %+v %v %v", before.LastUpdated, after, ok, err)
	}
	if _, ok, _ := w.passes.UpdatedSerials(w.ctx, "device-1", passType, after.LastUpdated); ok {
		t.Fatal("nothing changed since the new tag, yet a serial is listed")
	}
	latest, err := w.passes.LatestPass(w.ctx, passType, serial, token, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	pf := passJSON(t, unzip(t, latest.Archive))
	if pf.balance() != "750" || pf.StoreCard.PrimaryFields[0].ChangeMessage != "+750 points at Coffee Corner. Balance: %@" {
		t.Fatalf("latest pass: balance %s, change message %q", pf.balance(), pf.StoreCard.PrimaryFields[0].ChangeMessage)
	}
	if cond, _ := w.passes.LatestPass(w.ctx, passType, serial, token, latest.LastModified); !cond.NotModified {
		t.Fatal("If-Modified-Since the pass's Last-Modified is not 304")
	}
}

// The outbox crash test: a worker that dies after sending but before
// marking leaves the event claimed; once its lease ends another worker
// sends it again, and Google, which keeps messages by id, shows one.
func TestAWorkerStoppedBetweenSendingAndMarkingIsReplacedAndEachEventTakesEffectOnce(t *testing.T) {
	w := newWorld(t)
	w.withPass()
	earns := []passes.Event{w.earned(w.accrue(10000_00)), w.earned(w.accrue(4000_00))}
	w.enqueue(earns...)

	crash := errors.New("the worker's process is killed")
	cfg := w.cfg
	cfg.BeforeMark = func(context.Context, passes.Event) error { return crash }
	dying := w.service(cfg)
	if n, err := dying.Deliver(w.ctx, 100); !errors.Is(err, crash) || n != 0 {
		t.Fatalf("the dying worker delivered %d: %v", n, err)
	}
	if len(w.google.Messages(w.objectID())) != 1 || len(w.apns.Pushes()) != 1 {
		t.Fatalf("before dying the worker sent %d messages and %d pushes, want 1 each", len(w.google.Messages(w.objectID())), len(w.apns.Pushes()))
	}
	for _, e := range earns {
		if r := w.outbox(e.ID); r.delivered || r.attempts > 1 {
			t.Fatalf("event %s after the crash: %+v", e.ID, r)
		}
	}

	// While the dead worker's lease lasts no one takes its events (it had
	// claimed both).
	next := w.service(w.cfg)
	if n, err := next.Deliver(w.ctx, 100); err != nil || n != 0 {
		t.Fatalf("within the lease the next worker delivered %d (%v), want none", n, err)
	}
	w.clock.Advance(5*time.Minute + time.Second)
	if n, err := next.Deliver(w.ctx, 100); err != nil || n != 2 {
		t.Fatalf("after the lease the next worker delivered %d (%v), want the dead worker's two events", n, err)
	}
	for _, e := range earns {
		if r := w.outbox(e.ID); !r.delivered {
			t.Fatalf("event %s not delivered: %+v", e.ID, r)
		}
	}
	msgs := w.google.Messages(w.objectID())
	if len(msgs) != 2 || w.google.AddMessageCalls() != 3 {
		t.Fatalf("google: %d messages from %d calls, want one per event (2) from 3 calls", len(msgs), w.google.AddMessageCalls())
	}
	seen := map[string]int{}
	for _, m := range msgs {
		seen[m.ID]++
	}
	for _, e := range earns {
		if seen[e.ID.String()] != 1 {
			t.Fatalf("event %s shows %d times on the card", e.ID, seen[e.ID.String()])
		}
	}
	// The device was woken at each sending, which is harmless: it fetches
	// the latest pass either way.
	if n := len(w.apns.Pushes()); n != 3 {
		t.Fatalf("APNs got %d pushes, want 3 (one per sending)", n)
	}
}

func TestAMemberWhoTurnedNotificationsOffGetsAnUpToDatePassWithoutMessages(t *testing.T) {
	w := newWorld(t)
	serial, token := w.withPass()
	if err := w.passes.SetNotifications(w.ctx, w.member.ID, false); err != nil {
		t.Fatal(err)
	}
	if on, _ := w.passes.Notifications(w.ctx, w.member.ID); on {
		t.Fatal("notifications still on")
	}
	w.enqueue(w.earned(w.accrue(10000_00)))
	if n := w.deliver(); n != 1 {
		t.Fatalf("delivered %d", n)
	}
	if p := w.google.Patches(); len(p) != 1 || *p[0].LoyaltyPoints.Balance.Int != 500 {
		t.Fatalf("google patches = %+v, want the new balance", p)
	}
	if m := w.google.Messages(w.objectID()); len(m) != 0 || w.google.AddMessageCalls() != 0 {
		t.Fatalf("google messages = %+v, want none", m)
	}
	if len(w.apns.Pushes()) != 1 {
		t.Fatal("the device was not woken to fetch the new balance")
	}
	latest, err := w.passes.LatestPass(w.ctx, passType, serial, token, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if data := unzip(t, latest.Archive)["pass.json"]; bytes.Contains(data, []byte("changeMessage")) || !bytes.Contains(data, []byte(`"value": 500`)) {
		t.Fatalf("the pass of a member without notifications:\n%s", data)
	}
}

func TestFailedDeliveriesBackOffExponentiallyUpToTheCapAndAreRetried(t *testing.T) {
	w := newWorld(t)
	w.withPass()
	cfg := w.cfg
	cfg.BackoffBase, cfg.BackoffCap = time.Minute, 4*time.Minute
	worker := w.service(cfg)
	earn := w.accrue(10000_00)
	w.enqueue(w.earned(earn))
	w.google.Fail(http.StatusServiceUnavailable)
	for i, pause := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 4 * time.Minute} {
		if n, err := worker.Deliver(w.ctx, 100); err != nil || n != 0 {
			t.Fatalf("attempt %d delivered %d (%v) while Google fails", i+1, n, err)
		}
		r := w.outbox(earn.ID)
		if r.attempts != i+1 || !r.next.Equal(w.clock.Now().Add(pause)) || !strings.Contains(r.lastError, "503") {
			t.Fatalf("after attempt %d: %+v, want the next in %s", i+1, r, pause)
		}
		if n, _ := worker.Deliver(w.ctx, 100); n != 0 || w.outbox(earn.ID).attempts != i+1 {
			t.Fatal("an event backing off was tried before its time")
		}
		w.clock.Advance(pause)
	}
	w.google.Fail(0)
	if n, err := worker.Deliver(w.ctx, 100); err != nil || n != 1 {
		t.Fatalf("once Google answers, delivered %d (%v)", n, err)
	}
	if r := w.outbox(earn.ID); !r.delivered || r.lastError != "" {
		t.Fatalf("after the retry: %+v", r)
	}
	if m := w.google.Messages(w.objectID()); len(m) != 1 {
		t.Fatalf("google messages = %d, want 1", len(m))
	}
}

func TestADeviceAPNsNoLongerKnowsIsUnregistered(t *testing.T) {
	w := newWorld(t)
	serial, token := w.withPass()
	if created, err := w.passes.Register(w.ctx, "device-1", passType, serial, token, pushToken); err != nil || created {
		t.Fatalf("registering again: created %v, %v; want an existing registration", created, err)
	}
	w.apns.Unregister(pushToken)
	earn := w.accrue(10000_00)
	w.enqueue(w.earned(earn))
	if n := w.deliver(); n != 1 {
		t.Fatalf("delivered %d", n)
	}
	if n := w.count(`SELECT count(*) FROM wallet_registrations`); n != 0 {
		t.Fatalf("%d registrations left, want the gone device unregistered", n)
	}
}

// The daily job runs every few minutes; a member hears of expiring points
// once per day of the coalition's calendar (Moscow here).
func TestExpiringPointsAreToldOncePerDayOfTheCoalitionsCalendar(t *testing.T) {
	w := newWorld(t)
	serial, token := w.withPass()
	w.accrue(10000_00) // 500 points, expiring in 30 days
	// The earn's own event, written by the ledger with the posting.
	if n := w.deliver(); n != 1 {
		t.Fatalf("delivered %d events of the earn, want 1", n)
	}
	const within = 7 * 24 * time.Hour
	enqueue := func() int64 {
		t.Helper()
		n, err := w.passes.EnqueueExpiring(w.ctx, within, 1000)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := enqueue(); n != 0 {
		t.Fatalf("points 30 days from expiry: %d events", n)
	}
	w.clock.Advance(25 * 24 * time.Hour) // 12:00 in Moscow, 5 days before
	if n := enqueue(); n != 1 {
		t.Fatalf("5 days before expiry: %d events, want 1", n)
	}
	// Apple shows the notice through the pass's news; Google as a message.
	if n := w.deliver(); n != 1 {
		t.Fatalf("delivered %d", n)
	}
	latest, err := w.passes.LatestPass(w.ctx, passType, serial, token, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		StoreCard struct {
			BackFields []struct{ Key, Value, ChangeMessage string }
		}
	}
	if err := json.Unmarshal(unzip(t, latest.Archive)["pass.json"], &back); err != nil {
		t.Fatal(err)
	}
	if f := back.StoreCard.BackFields; len(f) == 0 || f[0].Key != "news" || f[0].Value != "500 points expire by 9 Apr 2026" || f[0].ChangeMessage != "%@" {
		t.Fatalf("the pass does not announce the expiring points: %+v", f)
	}
	if m := w.google.Messages(w.objectID()); len(m) != 2 || m[0].Body != "+500 points at Coffee Corner" || m[1].Body != "500 points expire by 9 Apr 2026" {
		t.Fatalf("google messages = %+v", m)
	}
	w.clock.Advance(10 * time.Hour) // 22:00 in Moscow: the same day
	if n := enqueue(); n != 0 {
		t.Fatalf("later the same day: %d events, want none", n)
	}
	w.clock.Advance(2 * time.Hour) // 00:00 in Moscow (21:00 UTC): the next day
	if n := enqueue(); n != 1 {
		t.Fatalf("the next day: %d events, want 1", n)
	}
	if n := w.count(`SELECT count(*) FROM pass_outbox WHERE kind = 'expiring' AND message = '500 points expire by 9 Apr 2026'`); n != 2 {
		var msg string
		w.tx.Pool().QueryRow(w.ctx, `SELECT message FROM pass_outbox WHERE kind = 'expiring' LIMIT 1`).Scan(&msg)
		t.Fatalf("%d expiring events with the expected message, want 2 (one says %q)", n, msg)
	}
}

func TestTagsAndLastModifiedMoveForwardAtEveryChangeEvenWithinASecond(t *testing.T) {
	w := newWorld(t)
	serial, token := w.withPass()
	var tags []string
	for i := range 3 {
		w.enqueue(passes.Event{ID: uuid.New(), Member: w.member.ID, Kind: passes.KindRefresh, At: w.clock.Now()})
		if n := w.deliver(); n != 1 {
			t.Fatalf("refresh %d: delivered %d", i, n)
		}
		u, ok, err := w.passes.UpdatedSerials(w.ctx, "device-1", passType, "")
		if err != nil || !ok {
			t.Fatal(err)
		}
		tags = append(tags, u.LastUpdated)
	}
	for i := 1; i < len(tags); i++ {
		a, _ := strconv.ParseInt(tags[i-1], 10, 64)
		b, _ := strconv.ParseInt(tags[i], 10, 64)
		if b <= a {
			t.Fatalf("tags %v do not move forward", tags)
		}
	}
	latest, err := w.passes.LatestPass(w.ctx, passType, serial, token, time.Time{})
	if err != nil || strconv.FormatInt(latest.LastModified.Unix(), 10) != tags[2] {
		t.Fatalf("Last-Modified %s, want the last tag %s (%v)", latest.LastModified, tags[2], err)
	}
}
