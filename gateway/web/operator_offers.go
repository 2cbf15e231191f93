package web

import (
	"net/http"

	"github.com/coalition-loyalty/coalition/coalition/sessions"
)

// The operator's offers page: every partner's offers and the operator's
// own, with the budget used and coupon uses; the operator makes offers
// for the coalition's segments, funded by the operator, by the partner
// where the member buys, or by a named partner, ends any offer, and issues
// coupons. The page and its forms are the portal's (offers.go), shown
// through the operator's session.

func (s *server) mountOperatorOffers(mux *http.ServeMux) {
	for pattern, h := range map[string]func(http.ResponseWriter, *http.Request, offersView){
		"GET /operator/offers":                    func(w http.ResponseWriter, r *http.Request, v offersView) { s.offersPage(w, r, v, nil, 0) },
		"GET /operator/offers.csv":                s.offersCSV,
		"GET /operator/offers/{code}/coupons.csv": s.couponsCSV,
		"POST /operator/offers":                   s.createOffer,
		"POST /operator/offers/{code}/end":        s.endOffer,
		"POST /operator/offers/{code}/coupons":    s.issueCoupons,
	} {
		post := pattern[:5] == "POST "
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			sess, tok := s.need(w, r, sessions.RoleOperator)
			if sess == nil || post && !s.checkCSRF(w, r, sess) {
				return
			}
			h(w, r, offersView{sess: sess, tok: tok})
		})
	}
}
