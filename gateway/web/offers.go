package web

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	coalitionv1 "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

// The portal's offers page: the partner's personal offers with the budget
// they used and their coupons' uses, a form to make an offer for one of
// the partner's segments (or for coupons only), and, per offer, a form to
// issue coupons whose codes download as CSV. Everything goes through the
// offer service as the signed-in person, so a partner sees and makes its
// own offers only, funded by itself.

type offersData struct {
	Offers   []*coalitionv1.Offer
	Segments []*coalitionv1.Segment
	// A refused form: the field at fault and what was wrong, and the form
	// as it was sent.
	Field, Problem string
	Form           url.Values
}

// Gives says what an offer gives.
func (offersData) Gives(o *coalitionv1.Offer) string {
	switch {
	case o.GetMultiplierBp() > 0 && o.GetBonusPoints() > 0:
		return fmt.Sprintf("+%s%% & +%d", bpText(o.GetMultiplierBp()), o.GetBonusPoints())
	case o.GetMultiplierBp() > 0:
		return fmt.Sprintf("+%s%%", bpText(o.GetMultiplierBp()))
	}
	return fmt.Sprintf("+%d", o.GetBonusPoints())
}

// Day is a timestamp's date in UTC, as the offers' periods are given;
// LastDay the day an offer's end (excluded) leaves last.
func (offersData) Day(t *timestamppb.Timestamp) string { return t.AsTime().UTC().Format(time.DateOnly) }
func (offersData) LastDay(t *timestamppb.Timestamp) string {
	return t.AsTime().UTC().Add(-time.Microsecond).Format(time.DateOnly)
}

func bpText(bp int64) string {
	if bp%100 == 0 {
		return strconv.FormatInt(bp/100, 10)
	}
	return fmt.Sprintf("%d.%02d", bp/100, bp%100)
}

func (s *server) portalOffersPage(w http.ResponseWriter, r *http.Request, c portalCaller) {
	s.offersPage(w, r, c, nil, 0)
}

func (s *server) offersPage(w http.ResponseWriter, r *http.Request, c portalCaller, refused error, code int) {
	ctx := rpcContext(r, c.tok)
	list, err := coalitionv1.NewOfferServiceClient(s.cfg.Conn).ListOffers(ctx, &coalitionv1.ListOffersRequest{})
	if err != nil {
		s.fail(w, r, c.sess, err)
		return
	}
	d := offersData{Offers: list.GetOffers(), Form: r.PostForm}
	if segs, err := coalitionv1.NewSegmentServiceClient(s.cfg.Conn).ListSegments(ctx, &coalitionv1.ListSegmentsRequest{}); err == nil {
		for _, seg := range segs.GetSegments() {
			if !seg.GetRetired() {
				d.Segments = append(d.Segments, seg)
			}
		}
	}
	if refused != nil {
		st := status.Convert(refused)
		d.Problem = st.Message()
		for _, det := range st.Details() {
			if br, ok := det.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
				d.Field = br.GetFieldViolations()[0].GetField()
			}
		}
	}
	s.render(w, r, "offers", page{Title: "offers.title", Path: "/partner/offers", Session: c.sess,
		Data: portalData{Caller: c, Data: d}, Status: code})
}

// portalCreateOffer makes an offer from the form: dates are days in UTC,
// the end day included.
func (s *server) portalCreateOffer(w http.ResponseWriter, r *http.Request, c portalCaller) {
	bad := func(field, why string) {
		s.offersPage(w, r, c, status.Error(codes.InvalidArgument, field+": "+why), http.StatusBadRequest)
	}
	num := func(name string) (int64, bool) {
		v := strings.TrimSpace(r.PostFormValue(name))
		if v == "" {
			return 0, true
		}
		n, err := strconv.ParseInt(v, 10, 64)
		return n, err == nil
	}
	bonus, ok1 := num("bonus_points")
	mult, ok2 := num("multiplier_bp")
	budget, ok3 := num("budget_points")
	minPurchase, ok4 := num("min_purchase")
	for name, ok := range map[string]bool{"bonus_points": ok1, "multiplier_bp": ok2, "budget_points": ok3, "min_purchase": ok4} {
		if !ok {
			bad(name, "must be a whole number")
			return
		}
	}
	starts, err := time.Parse(time.DateOnly, r.PostFormValue("starts"))
	if err != nil {
		bad("starts", "must be a date")
		return
	}
	ends, err := time.Parse(time.DateOnly, r.PostFormValue("ends"))
	if err != nil {
		bad("ends", "must be a date")
		return
	}
	var categories []string
	for _, v := range strings.Split(r.PostFormValue("categories"), ",") {
		if v = strings.TrimSpace(v); v != "" {
			categories = append(categories, v)
		}
	}
	_, err = coalitionv1.NewOfferServiceClient(s.cfg.Conn).CreateOffer(rpcContext(r, c.tok), &coalitionv1.CreateOfferRequest{Offer: &coalitionv1.Offer{
		Code: strings.TrimSpace(r.PostFormValue("code")), Name: r.PostFormValue("name"), Segment: r.PostFormValue("segment"),
		BonusPoints: bonus, MultiplierBp: mult, Categories: categories, MinPurchaseMinor: minPurchase * 100,
		Starts: timestamppb.New(starts), Ends: timestamppb.New(ends.AddDate(0, 0, 1)), BudgetPoints: budget,
	}})
	switch status.Code(err) {
	case codes.OK:
		http.Redirect(w, r, "/partner/offers", http.StatusSeeOther)
	case codes.InvalidArgument, codes.AlreadyExists, codes.NotFound, codes.PermissionDenied:
		s.offersPage(w, r, c, err, http.StatusBadRequest)
	default:
		s.fail(w, r, c.sess, err)
	}
}

func (s *server) portalEndOffer(w http.ResponseWriter, r *http.Request, c portalCaller) {
	if _, err := coalitionv1.NewOfferServiceClient(s.cfg.Conn).EndOffer(rpcContext(r, c.tok),
		&coalitionv1.EndOfferRequest{Code: r.PathValue("code")}); err != nil {
		s.fail(w, r, c.sess, err)
		return
	}
	http.Redirect(w, r, "/partner/offers", http.StatusSeeOther)
}

// portalIssueCoupons issues coupons and answers with the offer's coupons
// as CSV, for the print shop or the mailing. The form carries a request
// key drawn when the page was shown, so that sending it twice issues
// once.
func (s *server) portalIssueCoupons(w http.ResponseWriter, r *http.Request, c portalCaller) {
	count, err1 := strconv.Atoi(strings.TrimSpace(r.PostFormValue("count")))
	uses, err2 := strconv.Atoi(strings.TrimSpace(r.PostFormValue("max_uses")))
	if err1 != nil || err2 != nil {
		s.offersPage(w, r, c, status.Error(codes.InvalidArgument, "count: count and uses must be whole numbers"), http.StatusBadRequest)
		return
	}
	_, err := coalitionv1.NewOfferServiceClient(s.cfg.Conn).IssueCoupons(rpcContext(r, c.tok), &coalitionv1.IssueCouponsRequest{
		OfferCode: r.PathValue("code"), RequestKey: r.PostFormValue("request_key"), Count: int32(count), MaxUses: int32(uses)})
	switch status.Code(err) {
	case codes.OK:
		http.Redirect(w, r, "/partner/offers/"+url.PathEscape(r.PathValue("code"))+"/coupons.csv", http.StatusSeeOther)
	case codes.InvalidArgument, codes.FailedPrecondition, codes.AlreadyExists:
		s.offersPage(w, r, c, err, http.StatusBadRequest)
	default:
		s.fail(w, r, c.sess, err)
	}
}

// RequestKey is a fresh key for a coupon issue's form.
func (offersData) RequestKey() string { return "web-" + uuid.NewString() }

func (s *server) portalCouponsCSV(w http.ResponseWriter, r *http.Request, c portalCaller) {
	list, err := coalitionv1.NewOfferServiceClient(s.cfg.Conn).ListCoupons(rpcContext(r, c.tok),
		&coalitionv1.ListCouponsRequest{OfferCode: r.PathValue("code")})
	if err != nil {
		s.fail(w, r, c.sess, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="coupons-%s.csv"`, r.PathValue("code")))
	cw := csv.NewWriter(w)
	cw.Write([]string{"code", "offer", "member_card", "max_uses", "uses"})
	for _, cp := range list.GetCoupons() {
		cw.Write([]string{cp.GetCode(), cp.GetOfferCode(), cp.GetMemberCard(), strconv.Itoa(int(cp.GetMaxUses())), strconv.Itoa(int(cp.GetUses()))})
	}
	cw.Flush()
}

// portalOffersCSV exports the offers table.
func (s *server) portalOffersCSV(w http.ResponseWriter, r *http.Request, c portalCaller) {
	list, err := coalitionv1.NewOfferServiceClient(s.cfg.Conn).ListOffers(rpcContext(r, c.tok), &coalitionv1.ListOffersRequest{})
	if err != nil {
		s.fail(w, r, c.sess, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="offers.csv"`)
	cw := csv.NewWriter(w)
	cw.Write([]string{"code", "name", "target", "segment", "bonus_points", "multiplier_bp", "starts", "ends", "budget_points", "budget_used",
		"coupons_issued", "coupon_uses", "ended"})
	for _, o := range list.GetOffers() {
		cw.Write([]string{o.GetCode(), csvSafe(o.GetName()), o.GetTarget(), o.GetSegment(), strconv.FormatInt(o.GetBonusPoints(), 10),
			strconv.FormatInt(o.GetMultiplierBp(), 10), o.GetStarts().AsTime().UTC().Format(time.RFC3339), o.GetEnds().AsTime().UTC().Format(time.RFC3339),
			strconv.FormatInt(o.GetBudgetPoints(), 10), strconv.FormatInt(o.GetBudgetUsed(), 10), strconv.FormatInt(o.GetCouponsIssued(), 10),
			strconv.FormatInt(o.GetCouponUses(), 10), strconv.FormatBool(o.GetEndedAt() != nil)})
	}
	cw.Flush()
}
