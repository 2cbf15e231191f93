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
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/coalition-loyalty/coalition/coalition/sessions"
	coalitionv1 "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

// The offers page, in the portal and for the operator: the personal
// offers with the budget they used and their coupons' uses, a form to make
// an offer for a segment (or for coupons only), and, per offer, a form to
// issue coupons whose codes download as CSV. Everything goes through the
// offer service as the signed-in person, so a partner sees and makes its
// own offers only, funded by itself, and the operator every partner's and
// its own, funded by whom it names (operator_offers.go).

// offersView is where the page is shown: a partner's portal or the
// operator's pages.
type offersView struct {
	sess *sessions.Session
	tok  string
	// portal is the partner's signed-in staff; nil on the operator's page.
	portal *portalCaller
}

// Base is the page's path.
func (v offersView) Base() string {
	if v.portal != nil {
		return "/partner/offers"
	}
	return "/operator/offers"
}

func portalOffers(c portalCaller) offersView { return offersView{sess: c.sess, tok: c.tok, portal: &c} }

type offersData struct {
	// Portal is a partner's page; Base the page's path.
	Portal   bool
	Base     string
	Offers   []*coalitionv1.Offer
	Segments []*coalitionv1.Segment
	// Partners, on the operator's page, are the funders and places to
	// choose from.
	Partners []*coalitionv1.PartnerStanding
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
	s.offersPage(w, r, portalOffers(c), nil, 0)
}

func (s *server) portalCreateOffer(w http.ResponseWriter, r *http.Request, c portalCaller) {
	s.createOffer(w, r, portalOffers(c))
}

func (s *server) portalEndOffer(w http.ResponseWriter, r *http.Request, c portalCaller) {
	s.endOffer(w, r, portalOffers(c))
}

func (s *server) portalIssueCoupons(w http.ResponseWriter, r *http.Request, c portalCaller) {
	s.issueCoupons(w, r, portalOffers(c))
}

func (s *server) portalCouponsCSV(w http.ResponseWriter, r *http.Request, c portalCaller) {
	s.couponsCSV(w, r, portalOffers(c))
}

func (s *server) portalOffersCSV(w http.ResponseWriter, r *http.Request, c portalCaller) {
	s.offersCSV(w, r, portalOffers(c))
}

// offersPage shows the offers; refused, when a form was, says why.
func (s *server) offersPage(w http.ResponseWriter, r *http.Request, v offersView, refused error, code int) {
	ctx := rpcContext(r, v.tok)
	list, err := coalitionv1.NewOfferServiceClient(s.cfg.Conn).ListOffers(ctx, &coalitionv1.ListOffersRequest{})
	if err != nil {
		s.fail(w, r, v.sess, err)
		return
	}
	d := offersData{Portal: v.portal != nil, Base: v.Base(), Offers: list.GetOffers(), Form: r.PostForm}
	if v.portal == nil {
		if ps, err := s.network.ListPartnerStandings(ctx, &coalitionv1.ListPartnerStandingsRequest{}); err == nil {
			d.Partners = ps.GetPartners()
		}
	}
	if segs, err := coalitionv1.NewSegmentServiceClient(s.cfg.Conn).ListSegments(ctx, &coalitionv1.ListSegmentsRequest{}); err == nil {
		for _, seg := range segs.GetSegments() {
			if !seg.GetRetired() {
				d.Segments = append(d.Segments, seg)
			}
		}
	}
	if refused != nil {
		d.Problem, d.Field = refusal(refused)
	}
	pd := portalData{Data: d}
	if v.portal != nil {
		pd.Caller = *v.portal
	}
	s.render(w, r, "offers", page{Title: "offers.title", Path: v.Base(), Session: v.sess, Data: pd, Status: code})
}

// createOffer makes an offer from the form: dates are days in UTC, the end
// day included. The operator's form also names the funder and where the
// offer applies (a partner's are its own).
func (s *server) createOffer(w http.ResponseWriter, r *http.Request, v offersView) {
	bad := func(field, why string) {
		s.offersPage(w, r, v, status.Error(codes.InvalidArgument, field+": "+why), http.StatusBadRequest)
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
	offer := &coalitionv1.Offer{
		Code: strings.TrimSpace(r.PostFormValue("code")), Name: r.PostFormValue("name"), Segment: r.PostFormValue("segment"),
		BonusPoints: bonus, MultiplierBp: mult, Categories: commaList(r.PostFormValue("categories")), MinPurchaseMinor: minPurchase * 100,
		Starts: timestamppb.New(starts), Ends: timestamppb.New(ends.AddDate(0, 0, 1)), BudgetPoints: budget,
	}
	if v.portal == nil {
		offer.FundedBy = r.PostFormValue("funded_by")
		offer.Partners = commaList(r.PostFormValue("partners"))
	}
	_, err = coalitionv1.NewOfferServiceClient(s.cfg.Conn).CreateOffer(rpcContext(r, v.tok), &coalitionv1.CreateOfferRequest{Offer: offer})
	switch status.Code(err) {
	case codes.OK:
		http.Redirect(w, r, v.Base(), http.StatusSeeOther)
	case codes.InvalidArgument, codes.AlreadyExists, codes.NotFound, codes.PermissionDenied:
		s.offersPage(w, r, v, err, http.StatusBadRequest)
	default:
		s.fail(w, r, v.sess, err)
	}
}

// commaList is a form's comma-separated list, without blanks.
func commaList(field string) []string {
	var out []string
	for _, v := range strings.Split(field, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func (s *server) endOffer(w http.ResponseWriter, r *http.Request, v offersView) {
	if _, err := coalitionv1.NewOfferServiceClient(s.cfg.Conn).EndOffer(rpcContext(r, v.tok),
		&coalitionv1.EndOfferRequest{Code: r.PathValue("code")}); err != nil {
		s.fail(w, r, v.sess, err)
		return
	}
	http.Redirect(w, r, v.Base(), http.StatusSeeOther)
}

// issueCoupons issues coupons and answers with the offer's coupons as
// CSV, for the print shop or the mailing. The form carries a request key
// drawn when the page was shown, so that sending it twice issues once.
func (s *server) issueCoupons(w http.ResponseWriter, r *http.Request, v offersView) {
	count, err1 := strconv.Atoi(strings.TrimSpace(r.PostFormValue("count")))
	uses, err2 := strconv.Atoi(strings.TrimSpace(r.PostFormValue("max_uses")))
	if err1 != nil || err2 != nil {
		s.offersPage(w, r, v, status.Error(codes.InvalidArgument, "count: count and uses must be whole numbers"), http.StatusBadRequest)
		return
	}
	_, err := coalitionv1.NewOfferServiceClient(s.cfg.Conn).IssueCoupons(rpcContext(r, v.tok), &coalitionv1.IssueCouponsRequest{
		OfferCode: r.PathValue("code"), RequestKey: r.PostFormValue("request_key"), Count: int32(count), MaxUses: int32(uses)})
	switch status.Code(err) {
	case codes.OK:
		http.Redirect(w, r, v.Base()+"/"+url.PathEscape(r.PathValue("code"))+"/coupons.csv", http.StatusSeeOther)
	case codes.InvalidArgument, codes.FailedPrecondition, codes.AlreadyExists:
		s.offersPage(w, r, v, err, http.StatusBadRequest)
	default:
		s.fail(w, r, v.sess, err)
	}
}

// RequestKey is a fresh key for a coupon issue's form.
func (offersData) RequestKey() string { return "web-" + uuid.NewString() }

func (s *server) couponsCSV(w http.ResponseWriter, r *http.Request, v offersView) {
	list, err := coalitionv1.NewOfferServiceClient(s.cfg.Conn).ListCoupons(rpcContext(r, v.tok),
		&coalitionv1.ListCouponsRequest{OfferCode: r.PathValue("code")})
	if err != nil {
		s.fail(w, r, v.sess, err)
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

// offersCSV exports the offers table; the operator's names each offer's
// owner and funder too.
func (s *server) offersCSV(w http.ResponseWriter, r *http.Request, v offersView) {
	list, err := coalitionv1.NewOfferServiceClient(s.cfg.Conn).ListOffers(rpcContext(r, v.tok), &coalitionv1.ListOffersRequest{})
	if err != nil {
		s.fail(w, r, v.sess, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="offers.csv"`)
	cw := csv.NewWriter(w)
	header := []string{"code", "name", "target", "segment", "bonus_points", "multiplier_bp", "starts", "ends", "budget_points", "budget_used",
		"coupons_issued", "coupon_uses", "ended"}
	if v.portal == nil {
		header = append([]string{"owner", "funded_by"}, header...)
	}
	cw.Write(header)
	for _, o := range list.GetOffers() {
		line := []string{o.GetCode(), csvSafe(o.GetName()), o.GetTarget(), o.GetSegment(), strconv.FormatInt(o.GetBonusPoints(), 10),
			strconv.FormatInt(o.GetMultiplierBp(), 10), o.GetStarts().AsTime().UTC().Format(time.RFC3339), o.GetEnds().AsTime().UTC().Format(time.RFC3339),
			strconv.FormatInt(o.GetBudgetPoints(), 10), strconv.FormatInt(o.GetBudgetUsed(), 10), strconv.FormatInt(o.GetCouponsIssued(), 10),
			strconv.FormatInt(o.GetCouponUses(), 10), strconv.FormatBool(o.GetEndedAt() != nil)}
		if v.portal == nil {
			line = append([]string{o.GetOwner(), o.GetFundedBy()}, line...)
		}
		cw.Write(line)
	}
	cw.Flush()
}
