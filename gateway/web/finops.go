package web

// The finance staff's work after clearing, through the settlement
// service's finance operations: payment instructions reconciled against
// the bank's statements, adjustments and banking details that one person
// proposes and another decides, and the points liability of a month.

import (
	"encoding/csv"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/coalition-loyalty/coalition/coalition/sessions"
	coalitionv1 "github.com/coalition-loyalty/coalition/proto/coalition/v1"
	"github.com/coalition-loyalty/coalition/settlement/finance"
)

// maxStatement is the largest bank statement the upload form takes: what
// ImportBankStatement takes, and room for the form around it. (The HTTP
// server's own body limit may be lower.)
const maxStatement = 16 << 20

// formState is a finance page shown again after one of its forms was
// refused, with what was posted.
type formState struct {
	// Refusal is the server's message; Error a key of messages, for
	// refusals made here. Status is the HTTP status to answer with.
	Refusal string
	Error   string
	Status  int
	// Form names the refused form; Values is what it posted, to fill it
	// again.
	Form   string
	Values url.Values
}

// Value is what the refused form posted as name, if form is the one
// refused; else def.
func (f formState) Value(form, name, def string) string {
	if f.Form == form && f.Values.Has(name) {
		return f.Values.Get(name)
	}
	return def
}

// financePage shows a finance page, fresh or after a refused form.
type financePage func(w http.ResponseWriter, r *http.Request, sess *sessions.Session, tok string, f formState)

// refusalStatus are the refusals of a form that name what is wrong with it
// in words a person can act on: the domain's messages, naming the field.
var refusalStatus = map[codes.Code]int{
	codes.InvalidArgument:    http.StatusBadRequest,
	codes.NotFound:           http.StatusNotFound,
	codes.FailedPrecondition: http.StatusConflict,
	codes.AlreadyExists:      http.StatusConflict,
	codes.PermissionDenied:   http.StatusForbidden,
}

// refused shows the page of a form the server refused, with the server's
// message and the matching HTTP status. Any other failure (the server
// unavailable, an internal error) is s.fail's.
func (s *server) refused(w http.ResponseWriter, r *http.Request, sess *sessions.Session, tok string, show financePage, form string, err error) {
	st := status.Convert(err)
	code, ok := refusalStatus[st.Code()]
	if !ok {
		s.fail(w, r, sess, err)
		return
	}
	show(w, r, sess, tok, formState{Refusal: st.Message(), Status: code, Form: form, Values: r.PostForm})
}

// invalid shows the page of a form refused here, before any call, with a
// key of messages saying why.
func invalid(w http.ResponseWriter, r *http.Request, sess *sessions.Session, tok string, show financePage, form, key string) {
	show(w, r, sess, tok, formState{Error: key, Status: http.StatusBadRequest, Form: form, Values: r.PostForm})
}

// financePost admits a finance form: the session of finance staff, and the
// form's CSRF token. It answers the request itself otherwise.
func (s *server) financePost(w http.ResponseWriter, r *http.Request) (*sessions.Session, string) {
	sess, tok := s.need(w, r, sessions.RoleFinance)
	if sess == nil || !s.checkCSRF(w, r, sess) {
		return nil, ""
	}
	return sess, tok
}

// personID is the person the server records for a staff session's
// finance actions (rpc.Principal.Person): the pages use it only to leave
// out the buttons the server would refuse, a proposer's own decision.
func personID(sess *sessions.Session) string {
	return finance.StaffID(sess.Name)
}

// parties are the parties of the coalition, by code, for the forms'
// choices: the partners whose names are known and the operator. None if
// the names are unknown (the forms then take a code).
func parties(names map[string]string) []string {
	if len(names) == 0 {
		return nil
	}
	out := []string{"operator"}
	for code := range names {
		if code != "operator" {
			out = append(out, code)
		}
	}
	slices.Sort(out[1:])
	return out
}

// parseMinor reads an amount typed in major units ("1 234,56", "30.5",
// "12") as minor units of a two-decimal currency, as fmtMoney shows
// them; it refuses anything else, and zero or less.
func parseMinor(s string) (int64, bool) {
	s = strings.NewReplacer(" ", "", "\u00a0", "", "\u202f", "", ",", ".").Replace(strings.TrimSpace(s))
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" || len(whole) > 15 || len(frac) > 2 || strings.Trim(whole+frac, "0123456789") != "" {
		return 0, false
	}
	frac += strings.Repeat("0", 2-len(frac))
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	return n, err == nil && n > 0
}

// ---- Payments ----

type paymentsData struct {
	Rec   *coalitionv1.GetReconciliationResponse
	Names map[string]string
	// Files are the payment files made, newest first; Held the operator's
	// payments no file can carry yet, with why, by end-to-end id; Fileable
	// how many could go into a new file now.
	Files    []*coalitionv1.PaymentFileInfo
	Held     map[string]string
	Fileable int
	// After a redirect: instructions made, a statement imported, a line
	// resolved, a file made.
	Made     string
	Imported *importCounts
	Resolved bool
	Filed    string
	Form     formState
}

type importCounts struct{ Lines, Added, Duplicates string }

func (s *server) paymentsPage(w http.ResponseWriter, r *http.Request) {
	sess, tok := s.need(w, r, sessions.RoleFinance)
	if sess == nil {
		return
	}
	s.showPayments(w, r, sess, tok, formState{})
}

func (s *server) showPayments(w http.ResponseWriter, r *http.Request, sess *sessions.Session, tok string, f formState) {
	ctx := rpcContext(r, tok)
	rec, err := s.settlement.GetReconciliation(ctx, &coalitionv1.GetReconciliationRequest{})
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	d := paymentsData{Rec: rec, Names: s.names(r), Held: map[string]string{}, Form: f}
	files, err := s.settlement.ListPaymentFiles(ctx, &coalitionv1.ListPaymentFilesRequest{})
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	d.Files = files.GetFiles()
	for _, u := range files.GetUnfiled() {
		if u.GetReason() == "" {
			d.Fileable++
		} else {
			d.Held[u.GetEndToEndId()] = u.GetReason()
		}
	}
	q := r.URL.Query()
	d.Made = q.Get("made")
	if q.Has("added") {
		d.Imported = &importCounts{Lines: q.Get("lines"), Added: q.Get("added"), Duplicates: q.Get("duplicates")}
	}
	d.Resolved = q.Has("resolved")
	d.Filed = q.Get("filed")
	s.render(w, r, "payments", page{Title: "finops.payments.title", Path: "/finance/payments", Session: sess, Data: d,
		Status: f.Status, Refusal: f.Refusal, Error: f.Error})
}

// filePayments makes a payment file of the operator's payments no file
// carries yet.
func (s *server) filePayments(w http.ResponseWriter, r *http.Request) {
	sess, tok := s.financePost(w, r)
	if sess == nil {
		return
	}
	res, err := s.settlement.CreatePaymentFile(rpcContext(r, tok), &coalitionv1.CreatePaymentFileRequest{})
	if err != nil {
		s.refused(w, r, sess, tok, s.showPayments, "file", err)
		return
	}
	http.Redirect(w, r, "/finance/payments?filed="+url.QueryEscape(res.GetFile().GetId()), http.StatusSeeOther)
}

func (s *server) makeInstructions(w http.ResponseWriter, r *http.Request) {
	sess, tok := s.financePost(w, r)
	if sess == nil {
		return
	}
	res, err := s.settlement.MakePaymentInstructions(rpcContext(r, tok), &coalitionv1.MakePaymentInstructionsRequest{})
	if err != nil {
		s.refused(w, r, sess, tok, s.showPayments, "make", err)
		return
	}
	http.Redirect(w, r, "/finance/payments?made="+itoa(int64(len(res.GetMade()))), http.StatusSeeOther)
}

func (s *server) importStatement(w http.ResponseWriter, r *http.Request) {
	sess, tok := s.need(w, r, sessions.RoleFinance)
	if sess == nil {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxStatement+64<<10)
	if err := r.ParseMultipartForm(1 << 20); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			s.showPayments(w, r, sess, tok, formState{Error: "finops.import.toolarge", Status: http.StatusRequestEntityTooLarge, Form: "import"})
			return
		}
		// Not a form with a file: the CSRF check below refuses it.
	}
	if !s.checkCSRF(w, r, sess) {
		return
	}
	format := map[string]coalitionv1.StatementFormat{
		"camt": coalitionv1.StatementFormat_STATEMENT_FORMAT_CAMT,
		"csv":  coalitionv1.StatementFormat_STATEMENT_FORMAT_CSV,
	}[r.PostFormValue("format")]
	file, _, err := r.FormFile("statement")
	if err != nil {
		invalid(w, r, sess, tok, s.showPayments, "import", "finops.import.nofile")
		return
	}
	defer file.Close()
	data, err := io.ReadAll(io.LimitReader(file, maxStatement+1))
	switch {
	case err != nil:
		s.fail(w, r, sess, status.Error(codes.Unavailable, "read the uploaded statement"))
		return
	case len(data) == 0:
		invalid(w, r, sess, tok, s.showPayments, "import", "finops.import.nofile")
		return
	case len(data) > maxStatement:
		s.showPayments(w, r, sess, tok, formState{Error: "finops.import.toolarge", Status: http.StatusRequestEntityTooLarge, Form: "import"})
		return
	}
	res, err := s.settlement.ImportBankStatement(rpcContext(r, tok), &coalitionv1.ImportBankStatementRequest{Format: format, Content: data})
	if err != nil {
		s.refused(w, r, sess, tok, s.showPayments, "import", err)
		return
	}
	q := url.Values{"lines": {itoa(int64(res.GetLines()))}, "added": {itoa(int64(res.GetAdded()))}, "duplicates": {itoa(int64(res.GetDuplicates()))}}
	http.Redirect(w, r, "/finance/payments?"+q.Encode(), http.StatusSeeOther)
}

func (s *server) resolveLine(w http.ResponseWriter, r *http.Request) {
	sess, tok := s.financePost(w, r)
	if sess == nil {
		return
	}
	req := &coalitionv1.ResolveStatementLineRequest{LineId: r.PathValue("id"), Note: r.PostFormValue("note")}
	form := "line:" + req.LineId
	if r.PostFormValue("action") == "assign" {
		// Without an instruction the server would set the line aside,
		// which is not what was asked.
		if req.EndToEndId = strings.TrimSpace(r.PostFormValue("end_to_end_id")); req.EndToEndId == "" {
			invalid(w, r, sess, tok, s.showPayments, form, "finops.line.noinstruction")
			return
		}
	}
	if _, err := s.settlement.ResolveStatementLine(rpcContext(r, tok), req); err != nil {
		s.refused(w, r, sess, tok, s.showPayments, form, err)
		return
	}
	http.Redirect(w, r, "/finance/payments?resolved=1", http.StatusSeeOther)
}

// paymentFile streams a payment file as it was made: the pain.001 file
// for the bank ({id}.xml) or the same payments as CSV ({id}.csv).
func (s *server) paymentFile(w http.ResponseWriter, r *http.Request) {
	sess, tok := s.need(w, r, sessions.RoleFinance)
	if sess == nil {
		return
	}
	name := r.PathValue("file")
	id, ext, ok := strings.Cut(name, ".")
	format, ctype := coalitionv1.PaymentFileFormat_PAYMENT_FILE_FORMAT_PAIN001, "application/xml"
	switch {
	case ok && ext == "csv":
		format, ctype = coalitionv1.PaymentFileFormat_PAYMENT_FILE_FORMAT_CSV, "text/csv; charset=utf-8"
	case !ok || ext != "xml":
		s.render(w, r, "error", page{Title: "error.title", Session: sess, Status: http.StatusNotFound, Error: "error.notfound"})
		return
	}
	stream, err := s.settlement.ExportPaymentFile(rpcContext(r, tok), &coalitionv1.ExportPaymentFileRequest{FileId: id, Format: format})
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	first, err := stream.Recv()
	s.download(w, r, sess, id+"."+ext, ctype, first, err, func() ([]byte, error) {
		m, err := stream.Recv()
		return m.GetData(), err
	})
}

// ---- Adjustments ----

type adjustmentsData struct {
	Adjustments []*coalitionv1.Adjustment
	Names       map[string]string
	Parties     []string
	Me          string // the person, as the server records them
	Proposed    bool   // after a redirect: an adjustment was proposed
	Form        formState
}

func (s *server) adjustmentsPage(w http.ResponseWriter, r *http.Request) {
	sess, tok := s.need(w, r, sessions.RoleFinance)
	if sess == nil {
		return
	}
	s.showAdjustments(w, r, sess, tok, formState{})
}

func (s *server) showAdjustments(w http.ResponseWriter, r *http.Request, sess *sessions.Session, tok string, f formState) {
	res, err := s.settlement.ListAdjustments(rpcContext(r, tok), &coalitionv1.ListAdjustmentsRequest{PageSize: 200})
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	names := s.names(r)
	d := adjustmentsData{Adjustments: res.GetAdjustments(), Names: names, Parties: parties(names), Me: personID(sess),
		Proposed: r.URL.Query().Has("proposed"), Form: f}
	s.render(w, r, "adjustments", page{Title: "finops.adjustments.title", Path: "/finance/adjustments", Session: sess, Data: d,
		Status: f.Status, Refusal: f.Refusal, Error: f.Error})
}

func (s *server) proposeAdjustment(w http.ResponseWriter, r *http.Request) {
	sess, tok := s.financePost(w, r)
	if sess == nil {
		return
	}
	kind := r.PostFormValue("kind")
	req := &coalitionv1.ProposeAdjustmentRequest{Reason: r.PostFormValue("reason")}
	switch kind {
	case "points":
		n, err := strconv.ParseInt(strings.TrimSpace(r.PostFormValue("points")), 10, 64)
		if err != nil || n <= 0 {
			invalid(w, r, sess, tok, s.showAdjustments, kind, "finops.badpoints")
			return
		}
		req.Adjustment = &coalitionv1.ProposeAdjustmentRequest_Points_{Points: &coalitionv1.ProposeAdjustmentRequest_Points{
			MemberId: strings.TrimSpace(r.PostFormValue("member_id")), Points: n, Funder: r.PostFormValue("funder")}}
	case "money":
		minor, ok := parseMinor(r.PostFormValue("amount"))
		if !ok {
			invalid(w, r, sess, tok, s.showAdjustments, kind, "finops.badamount")
			return
		}
		req.Adjustment = &coalitionv1.ProposeAdjustmentRequest_Money_{Money: &coalitionv1.ProposeAdjustmentRequest_Money{
			Payer: r.PostFormValue("payer"), Payee: r.PostFormValue("payee"), AmountMinor: minor,
			BusinessDate: strings.TrimSpace(r.PostFormValue("business_date"))}}
	default:
		invalid(w, r, sess, tok, s.showAdjustments, kind, "error.invalid")
		return
	}
	if _, err := s.settlement.ProposeAdjustment(rpcContext(r, tok), req); err != nil {
		s.refused(w, r, sess, tok, s.showAdjustments, kind, err)
		return
	}
	http.Redirect(w, r, "/finance/adjustments?proposed=1", http.StatusSeeOther)
}

func (s *server) decideAdjustment(w http.ResponseWriter, r *http.Request) {
	sess, tok := s.financePost(w, r)
	if sess == nil {
		return
	}
	id := r.PathValue("id")
	req := &coalitionv1.DecideAdjustmentRequest{Id: id, Note: strings.TrimSpace(r.PostFormValue("note"))}
	switch r.PostFormValue("decision") {
	case "approve":
		req.Approve = true
	case "reject":
	default:
		invalid(w, r, sess, tok, s.showAdjustments, "decide:"+id, "error.invalid")
		return
	}
	if _, err := s.settlement.DecideAdjustment(rpcContext(r, tok), req); err != nil {
		s.refused(w, r, sess, tok, s.showAdjustments, "decide:"+id, err)
		return
	}
	http.Redirect(w, r, "/finance/adjustments", http.StatusSeeOther)
}

// ---- Bank accounts ----

type accountsData struct {
	Accounts []*coalitionv1.BankAccount
	Names    map[string]string
	Parties  []string
	Me       string // the person, as the server records them
	Proposed bool   // after a redirect: a version was proposed
	Form     formState
}

var frequencies = map[string]coalitionv1.PaymentFrequency{
	"daily":   coalitionv1.PaymentFrequency_PAYMENT_FREQUENCY_DAILY,
	"weekly":  coalitionv1.PaymentFrequency_PAYMENT_FREQUENCY_WEEKLY,
	"monthly": coalitionv1.PaymentFrequency_PAYMENT_FREQUENCY_MONTHLY,
}

func (s *server) accountsPage(w http.ResponseWriter, r *http.Request) {
	sess, tok := s.need(w, r, sessions.RoleFinance)
	if sess == nil {
		return
	}
	s.showAccounts(w, r, sess, tok, formState{})
}

func (s *server) showAccounts(w http.ResponseWriter, r *http.Request, sess *sessions.Session, tok string, f formState) {
	res, err := s.settlement.ListBankAccounts(rpcContext(r, tok), &coalitionv1.ListBankAccountsRequest{})
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	names := s.names(r)
	d := accountsData{Accounts: res.GetAccounts(), Names: names, Parties: parties(names), Me: personID(sess),
		Proposed: r.URL.Query().Has("proposed"), Form: f}
	s.render(w, r, "accounts", page{Title: "finops.accounts.title", Path: "/finance/accounts", Session: sess, Data: d,
		Status: f.Status, Refusal: f.Refusal, Error: f.Error})
}

func (s *server) proposeAccount(w http.ResponseWriter, r *http.Request) {
	sess, tok := s.financePost(w, r)
	if sess == nil {
		return
	}
	days, err := strconv.ParseInt(strings.TrimSpace(r.PostFormValue("payment_days")), 10, 32)
	freq, ok := frequencies[r.PostFormValue("payment_frequency")]
	if err != nil || !ok {
		invalid(w, r, sess, tok, s.showAccounts, "propose", "finops.badterms")
		return
	}
	req := &coalitionv1.ProposeBankAccountRequest{Party: r.PostFormValue("party"), LegalName: r.PostFormValue("legal_name"),
		Iban: strings.TrimSpace(r.PostFormValue("iban")), AccountNumber: strings.TrimSpace(r.PostFormValue("account_number")),
		Bic: r.PostFormValue("bic"), Currency: strings.ToUpper(strings.TrimSpace(r.PostFormValue("currency"))),
		PaymentFrequency: freq, PaymentDays: int32(days)}
	if _, err := s.settlement.ProposeBankAccount(rpcContext(r, tok), req); err != nil {
		s.refused(w, r, sess, tok, s.showAccounts, "propose", err)
		return
	}
	http.Redirect(w, r, "/finance/accounts?proposed=1", http.StatusSeeOther)
}

func (s *server) decideAccount(w http.ResponseWriter, r *http.Request) {
	sess, tok := s.financePost(w, r)
	if sess == nil {
		return
	}
	id := r.PathValue("id")
	req := &coalitionv1.DecideBankAccountRequest{Id: id}
	switch r.PostFormValue("decision") {
	case "confirm":
		req.Confirm = true
	case "reject":
	default:
		invalid(w, r, sess, tok, s.showAccounts, "decide:"+id, "error.invalid")
		return
	}
	if _, err := s.settlement.DecideBankAccount(rpcContext(r, tok), req); err != nil {
		s.refused(w, r, sess, tok, s.showAccounts, "decide:"+id, err)
		return
	}
	http.Redirect(w, r, "/finance/accounts", http.StatusSeeOther)
}

// ---- Liability ----

type liabilityData struct {
	L                 *coalitionv1.GetLiabilityResponse
	Month, Prev, Next string
	Names             map[string]string
}

// Rows are the issuers' roll-forwards and, last, the network's.
func (d liabilityData) Rows() []*coalitionv1.IssuerLiability {
	return append(slices.Clone(d.L.GetIssuers()), d.L.GetNetwork())
}

// liabilityCSVHeader names the columns of the liability CSV, as package
// settlement/finance's LiabilityCSVHeader does (a test holds them equal):
// one row per issuer and a last one for the network.
var liabilityCSVHeader = []string{"period_from", "period_to", "issuer", "opening", "issued", "burned", "debt_paid",
	"clawed_back", "expired", "closing", "closing_minor", "currency", "breakage_bp",
	"ageing_expired_unswept", "ageing_1_30", "ageing_31_90", "ageing_91_180", "ageing_181_365", "ageing_over_365", "final"}

// liabilityMonth is the month asked for, or the last one ended.
func (s *server) liabilityMonth(r *http.Request) string {
	if m := r.URL.Query().Get("month"); m != "" {
		return m
	}
	y, m, _ := s.cfg.Now().In(s.cfg.Zone).Date()
	return time.Date(y, m-1, 1, 0, 0, 0, 0, time.UTC).Format("2006-01")
}

func (s *server) liabilityPage(w http.ResponseWriter, r *http.Request) {
	sess, tok := s.need(w, r, sessions.RoleFinance)
	if sess == nil {
		return
	}
	month := s.liabilityMonth(r)
	res, err := s.settlement.GetLiability(rpcContext(r, tok), &coalitionv1.GetLiabilityRequest{Month: month})
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	d := liabilityData{L: res, Month: month, Names: s.names(r)}
	if m, err := time.Parse("2006-01", month); err == nil {
		d.Prev, d.Next = m.AddDate(0, -1, 0).Format("2006-01"), m.AddDate(0, 1, 0).Format("2006-01")
	}
	s.render(w, r, "liability", page{Title: "finops.liability.title", Session: sess, Data: d})
}

// liabilityCSV writes the month's liability as settlement/finance's
// LiabilityStatement.WriteCSV does, from the service's answer.
func (s *server) liabilityCSV(w http.ResponseWriter, r *http.Request) {
	sess, tok := s.need(w, r, sessions.RoleFinance)
	if sess == nil {
		return
	}
	month := s.liabilityMonth(r)
	res, err := s.settlement.GetLiability(rpcContext(r, tok), &coalitionv1.GetLiabilityRequest{Month: month})
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="liability-`+month+`.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	cw := csv.NewWriter(w)
	cw.Write(liabilityCSVHeader)
	for _, l := range (liabilityData{L: res}).Rows() {
		row := []string{res.GetFrom(), res.GetTo(), l.GetIssuer()}
		for _, n := range []int64{l.GetOpening(), l.GetIssued(), l.GetBurned(), l.GetDebtPaid(), l.GetClawedBack(), l.GetExpired(),
			l.GetClosing(), l.GetClosingMinor()} {
			row = append(row, itoa(n))
		}
		row = append(row, res.GetCurrency(), itoa(l.GetBreakageBp()))
		for _, n := range l.GetAgeing() {
			row = append(row, itoa(n))
		}
		cw.Write(append(row, strconv.FormatBool(res.GetFinal())))
	}
	if cw.Flush(); cw.Error() != nil {
		s.cfg.Log.ErrorContext(r.Context(), "liability csv", "error", cw.Error())
	}
}
