package web

import (
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/language"

	coalitionv1 "github.com/coalition-loyalty/coalition/proto/coalition/v1"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Languages of the pages; the first is the fallback.
var languages = []language.Tag{language.English, language.Russian}

var matcher = language.NewMatcher(languages)

// lang picks the page's language: ?lang= (remembered in a cookie), then the
// cookie, then the browser's Accept-Language.
func lang(w http.ResponseWriter, r *http.Request) string {
	if q := r.URL.Query().Get("lang"); q == "ru" || q == "en" {
		http.SetCookie(w, &http.Cookie{Name: langCookie, Value: q, Path: "/", MaxAge: 365 * 24 * 3600, SameSite: http.SameSiteLaxMode})
		return q
	}
	if c, err := r.Cookie(langCookie); err == nil && (c.Value == "ru" || c.Value == "en") {
		return c.Value
	}
	tags, _, _ := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	_, i, _ := matcher.Match(tags...)
	if i == 1 {
		return "ru"
	}
	return "en"
}

func translator(lang string) func(string) string {
	return func(key string) string {
		m, ok := messages[key]
		if !ok {
			return key
		}
		if lang == "ru" {
			return m[1]
		}
		return m[0]
	}
}

var funcs = template.FuncMap{
	"points": fmtPoints,
	"money":  fmtMoney,
	"date":   func(lang string, ts *timestamppb.Timestamp) string { return fmtDate(time.UTC, lang, ts) },
	"bp":     fmtBP,
	"deref":  func(p *int64) int64 { return derefInt(p) },
	"has":    func(p *int64) bool { return p != nil },
	"neg":    func(n int64) bool { return n < 0 },
	"abs":    abs,
	"lower":  strings.ToLower,
}

func derefInt(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// group writes n with a thin space between thousands (as both Russian and
// international typography allow), and a real minus sign.
func group(n int64) string {
	neg := n < 0
	if neg {
		n = -n
	}
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	if neg {
		b.WriteString("−")
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString("\u202f")
		}
		b.WriteRune(c)
	}
	return b.String()
}

func fmtPoints(n int64) string { return group(n) }

// fmtMoney shows minor units as major ones, with two decimals (every
// currency the coalition runs in has two), and the currency's sign.
func fmtMoney(lang string, minor int64, currency string) string {
	sym := map[string]string{"RUB": "₽", "EUR": "€", "USD": "$"}[currency]
	if sym == "" {
		sym = currency
	}
	return fmtDecimal(lang, minor) + "\u00a0" + sym
}

// fmtDecimal shows minor units as major ones, as fmtMoney does, without
// a currency: for amounts whose currency the page does not know.
func fmtDecimal(lang string, minor int64) string {
	sign := ""
	if minor < 0 {
		sign, minor = "−", -minor
	}
	sep := "."
	if lang == "ru" {
		sep = ","
	}
	return sign + group(minor/100) + sep + strconv.FormatInt(100+minor%100, 10)[1:]
}

// fmtBP shows basis points as a percentage with the page language's
// decimal separator, as fmtMoney does: 1,00 % beside 1,00 ₽ in Russian.
func fmtBP(lang string, bp int64) string {
	sign := ""
	if bp < 0 {
		sign, bp = "−", -bp
	}
	sep := "."
	if lang == "ru" {
		sep = ","
	}
	return sign + strconv.FormatInt(bp/100, 10) + sep + strconv.FormatInt(100+bp%100, 10)[1:] + "\u00a0%"
}

var monthsRU = []string{"января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа", "сентября", "октября", "ноября", "декабря"}

// fmtDate shows a timestamp's date, as it reads in loc, in the page's
// language.
func fmtDate(loc *time.Location, lang string, ts *timestamppb.Timestamp) string {
	if ts == nil {
		return "—"
	}
	t := ts.AsTime().In(loc)
	if lang == "ru" {
		return strconv.Itoa(t.Day()) + "\u00a0" + monthsRU[t.Month()-1] + " " + strconv.Itoa(t.Year())
	}
	return t.Format("2 Jan 2006")
}

// fmtTime shows a timestamp's date and time as they read in loc, with the
// zone's abbreviation (MSK, UTC, or an offset where the zone has none).
func fmtTime(loc *time.Location, lang string, ts *timestamppb.Timestamp) string {
	if ts == nil {
		return "—"
	}
	return fmtDate(loc, lang, ts) + ", " + ts.AsTime().In(loc).Format("15:04 MST")
}

// zoned are the functions that show instants, in the coalition's time
// zone loc: people read times as their clocks show them, and business
// days are cut in that zone.
func zoned(loc *time.Location) template.FuncMap {
	if loc == nil {
		loc = time.UTC
	}
	return template.FuncMap{
		"date":     func(lang string, ts *timestamppb.Timestamp) string { return fmtDate(loc, lang, ts) },
		"datetime": func(lang string, ts *timestamppb.Timestamp) string { return fmtTime(loc, lang, ts) },
	}
}

// kindLabel names a transaction's kind for people; a kind without a text
// of its own shows its name.
func kindLabel(lang string, k coalitionv1.TransactionKind) string {
	name := strings.ToLower(strings.TrimPrefix(k.String(), "TRANSACTION_KIND_"))
	if _, ok := messages["kind."+name]; ok {
		return translator(lang)("kind." + name)
	}
	return strings.ReplaceAll(name, "_", " ")
}

// lineKind and section name a report line's kind and section in the
// page's language; one without a text of its own shows as the CSV export
// writes it (LINE_KIND_SELF_BURN is "self_burn").
func lineKind(lang string, k coalitionv1.LineKind) string {
	return label(lang, "line.", strings.ToLower(strings.TrimPrefix(k.String(), "LINE_KIND_")))
}

func section(lang string, s coalitionv1.ReportSection) string {
	return label(lang, "section.", strings.ToLower(strings.TrimPrefix(s.String(), "REPORT_SECTION_")))
}

// label is the text of prefix+name in lang, or name if it has none.
func label(lang, prefix, name string) string {
	if _, ok := messages[prefix+name]; ok {
		return translator(lang)(prefix + name)
	}
	return name
}

// party names a report's party (a partner's code, or the operator) by its
// name where names knows it.
func party(names map[string]string, code string) string {
	if n, ok := names[code]; ok && n != "" {
		return n
	}
	return code
}

// who names a party of the finance pages: a partner by its name where
// names knows it, the operator in the page's language, else by code.
func who(lang string, names map[string]string, code string) string {
	if n, ok := names[code]; ok && n != "" {
		return n
	}
	if code == "operator" {
		return translator(lang)("finops.operator")
	}
	return code
}

var monthNamesRU = []string{"январь", "февраль", "март", "апрель", "май", "июнь", "июль", "август", "сентябрь", "октябрь", "ноябрь", "декабрь"}

// fmtMonth names a month given as YYYY-MM ("March 2026", "март 2026"), or
// shows it as it is if it is no month.
func fmtMonth(lang, month string) string {
	t, err := time.Parse("2006-01", month)
	if err != nil {
		return month
	}
	if lang == "ru" {
		return monthNamesRU[t.Month()-1] + " " + strconv.Itoa(t.Year())
	}
	return t.Format("January 2006")
}

func init() {
	funcs["kind"] = kindLabel
	funcs["lineKind"] = lineKind
	funcs["section"] = section
	funcs["party"] = party
	funcs["decimal"] = fmtDecimal
	funcs["who"] = who
	funcs["month"] = fmtMonth
	// freq names a payment frequency ("daily") in the page's language.
	funcs["freq"] = func(lang string, f coalitionv1.PaymentFrequency) string {
		return label(lang, "finops.freq.", strings.ToLower(strings.TrimPrefix(f.String(), "PAYMENT_FREQUENCY_")))
	}
	// label names a value of the API ("partly_paid") in the page's
	// language by its key prefix+value, or shows it as it is.
	funcs["label"] = label
	funcs["stamp"] = timestamppb.New
	// kindName names a posting's kind ("burn") as the history does.
	funcs["kindName"] = func(lang, name string) string { return label(lang, "kind.", name) }
	// times shows a multiplier in basis points (15000) as a factor (1.5).
	funcs["times"] = func(bp int64) string {
		return strings.TrimSuffix(strings.TrimRight(strconv.FormatInt(bp/10000, 10)+"."+strconv.FormatInt(10000+bp%10000, 10)[1:], "0"), ".")
	}
	funcs["days"] = func(d *durationpb.Duration) int64 { return int64(d.AsDuration() / (24 * time.Hour)) }
	funcs["datetime"] = func(lang string, ts *timestamppb.Timestamp) string { return fmtTime(time.UTC, lang, ts) }
	funcs["day"] = func(lang, d string) string {
		t, err := time.Parse(time.DateOnly, d)
		if err != nil {
			return d
		}
		return fmtDate(time.UTC, lang, timestamppb.New(t)) // a business day, not an instant
	}
}

// messages are the pages' texts: English, Russian.
var messages = map[string][2]string{
	"app":                     {"Coalition", "Коалиция"},
	"nav.member":              {"My card", "Моя карта"},
	"nav.finance":             {"Settlement", "Расчёты"},
	"nav.operator":            {"Network", "Сеть"},
	"nav.signin":              {"Staff sign-in", "Вход для сотрудников"},
	"nav.signout":             {"Sign out", "Выйти"},
	"nav.lang":                {"Язык: русский", "Language: English"},
	"nav.skip":                {"Skip to content", "К содержанию"},
	"home.title":              {"Coalition loyalty", "Коалиционная программа лояльности"},
	"home.lead":               {"One points account, earned at any partner and spent at any other.", "Один счёт баллов: копите у любого партнёра, тратьте у любого другого."},
	"home.members":            {"Members open their card with the link their partner sends them (by SMS, in the app or by e-mail).", "Участники открывают свою карту по ссылке, которую присылает партнёр (в SMS, в приложении или по почте)."},
	"home.staff":              {"Finance and operator staff sign in with the credential the operator issued them.", "Сотрудники финансов и оператора входят по ключу, выданному оператором."},
	"signin.title":            {"Staff sign-in", "Вход для сотрудников"},
	"signin.credential":       {"Staff credential", "Ключ сотрудника"},
	"signin.hint":             {"The credential the operator issued you (starts with ck_). It is never stored here in clear.", "Ключ, выданный вам оператором (начинается с ck_). Мы не храним его в открытом виде."},
	"signin.submit":           {"Sign in", "Войти"},
	"signin.bad":              {"This credential is not valid: it is unknown, revoked, expired, or not a staff credential.", "Ключ недействителен: он неизвестен, отозван, истёк или не является ключом сотрудника."},
	"link.title":              {"Open my card", "Открыть мою карту"},
	"link.lead":               {"Your partner sent you this link to open your points card. It works once, for 15 minutes.", "Партнёр прислал вам эту ссылку, чтобы открыть карту баллов. Она действует один раз, 15 минут."},
	"link.submit":             {"Open my card", "Открыть карту"},
	"link.bad":                {"This link has already been used or has expired. Ask your partner for a new one.", "Ссылка уже использована или истекла. Попросите у партнёра новую."},
	"nolink.lead":             {"To open your card, use the link your partner sent you. Ask at the till or in the partner's app for a new one.", "Чтобы открыть карту, перейдите по ссылке от партнёра. Новую ссылку можно получить на кассе или в приложении партнёра."},
	"member.title":            {"My card", "Моя карта"},
	"member.available":        {"Available", "Доступно"},
	"member.pending":          {"Pending", "Ожидают"},
	"member.pending.hint":     {"Earned points that become spendable after the partner's return period.", "Начисленные баллы станут доступны после срока возврата покупки."},
	"member.held":             {"Held", "Заблокировано"},
	"member.held.hint":        {"Reserved for a purchase in progress.", "Зарезервировано под покупку."},
	"member.debt":             {"Owed", "Долг"},
	"member.points":           {"points", "баллов"},
	"member.tier":             {"Tier", "Уровень"},
	"member.notiers":          {"This coalition has no tiers yet.", "В коалиции пока нет уровней."},
	"member.nexttier":         {"To reach %s, spend", "До уровня %s осталось потратить"},
	"member.toptier":          {"You are at the top tier.", "У вас высший уровень."},
	"member.qualifying":       {"Qualifying spend", "Сумма покупок для уровня"},
	"member.card":             {"Card", "Карта"},
	"member.cardnumber":       {"Card number", "Номер карты"},
	"member.qr":               {"Show this code at the till", "Покажите этот код на кассе"},
	"member.referral":         {"Referral code", "Код для друзей"},
	"member.referral.hint":    {"A friend who joins with your code and makes a first purchase brings you both a bonus.", "Друг, который присоединится с вашим кодом и сделает первую покупку, принесёт бонус вам обоим."},
	"member.expiring":         {"Expiring within 30 days", "Сгорают в ближайшие 30 дней"},
	"member.noexpiring":       {"No points expire in the next 30 days.", "В ближайшие 30 дней баллы не сгорают."},
	"member.expires":          {"Expires", "Сгорают"},
	"member.from":             {"Earned at", "Начислены в"},
	"member.history":          {"History", "История"},
	"member.nohistory":        {"No transactions yet.", "Операций пока нет."},
	"member.spend":            {"Where to spend points", "Где потратить баллы"},
	"member.more":             {"Older transactions", "Более ранние операции"},
	"member.worth":            {"worth", "на сумму"},
	"member.locked":           {"Locked", "Ждут разблокировки"},
	"member.locked.hint":      {"Points of a joint promotion: a purchase at the partner named below unlocks them.", "Баллы совместной акции: их разблокирует покупка у партнёра, указанного ниже."},
	"member.unlock":           {"%s points unlock with a purchase at %s", "%s баллов разблокирует покупка в %s"},
	"member.offers":           {"Offers for you now", "Акции для вас сейчас"},
	"member.nooffers":         {"No offers are running now.", "Сейчас акций нет."},
	"member.offer.points":     {"points", "баллов"},
	"member.offer.everywhere": {"at every partner", "у всех партнёров"},
	"member.offer.unlock":     {"unlocked by a purchase at %s", "разблокирует покупка в %s"},
	"member.offer.until":      {"until", "до"},
	"member.earns":            {"earns %s", "начисляет %s"},
	"member.pointvalue":       {"1 point = %s when you spend it.", "1 балл = %s при оплате."},
	"member.bycoalition":      {"The coalition", "Коалиция"},
	"member.wallet.apple":     {"Add to Apple Wallet", "Добавить в Apple Wallet"},
	"member.wallet.google":    {"Save to Google Wallet", "Сохранить в Google Wallet"},
	"member.wallet.on":        {"The card in your wallet tells you of points earned, spent and expiring.", "Карта в кошельке сообщает о начисленных, потраченных и сгорающих баллах."},
	"member.wallet.off":       {"The card in your wallet stays up to date without messages.", "Карта в кошельке обновляется без уведомлений."},
	"member.wallet.turnoff":   {"Turn messages off", "Отключить уведомления"},
	"member.wallet.turnon":    {"Turn messages on", "Включить уведомления"},
	"rule.tier":               {"tier bonus", "бонус уровня"},
	"rule.promotion":          {"promotion", "акция"},
	"rule.referral":           {"referral bonus", "бонус за приглашение"},
	"rule.welcome":            {"welcome bonus", "приветственный бонус"},
	"col.date":                {"Date", "Дата"},
	"col.what":                {"Operation", "Операция"},
	"col.partner":             {"Partner", "Партнёр"},
	"col.points":              {"Points", "Баллы"},
	"col.amount":              {"Amount", "Сумма"},
	"col.status":              {"Status", "Статус"},
	"kind.earn":               {"Earned", "Начисление"},
	"kind.burn":               {"Spent", "Списание"},
	"kind.capture":            {"Spent", "Списание"},
	"kind.earn_refund":        {"Purchase returned", "Возврат покупки"},
	"kind.burn_refund":        {"Points returned", "Возврат баллов"},
	"kind.expire":             {"Expired", "Сгорание"},
	"kind.bonus":              {"Bonus", "Бонус"},
	"finance.title":           {"Settlement windows", "Расчётные дни"},
	"finance.lead":            {"Each business day is a settlement window; once cleared, its report is final.", "Каждый операционный день — расчётное окно; после клиринга отчёт окончателен."},
	"finance.day":             {"Business day", "Операционный день"},
	"finance.open":            {"open", "открыт"},
	"finance.closed":          {"closed", "закрыт"},
	"finance.cleared":         {"cleared", "рассчитан"},
	"finance.pending":         {"awaiting clearing", "ждёт клиринга"},
	"finance.report":          {"Report", "Отчёт"},
	"finance.nowindows":       {"No windows yet.", "Окон пока нет."},
	"report.title":            {"Settlement report", "Отчёт о расчётах"},
	"line.burn":               {"points spent", "списание баллов"},
	"line.debt":               {"debt", "долг"},
	"line.self_burn":          {"spent where issued", "списание у эмитента"},
	"line.self_debt":          {"debt where issued", "долг у эмитента"},
	"line.interchange":        {"interchange fee", "комиссия за обмен"},
	"line.issue":              {"issue fee", "комиссия за выпуск"},
	"line.breakage":           {"breakage", "сгорание"},
	"line.net":                {"net", "нетто"},
	"line.payment":            {"payment", "платёж"},
	"line.issued":             {"issued", "выпущено"},
	"line.clawed_back":        {"clawed back", "возвращено"},
	"line.expired":            {"expired", "сгорело"},
	"line.outstanding":        {"outstanding", "в обращении"},
	"section.flow":            {"flow", "поток"},
	"section.fee":             {"fee", "комиссия"},
	"section.net":             {"net position", "нетто-позиция"},
	"section.hub":             {"payment via the operator", "платёж через оператора"},
	"section.direct":          {"direct payment", "прямой платёж"},
	"section.issued":          {"points issued", "выпуск баллов"},
	"section.breakage":        {"breakage", "сгорание"},
	"section.liability":       {"outstanding points", "обязательства по баллам"},
	"report.csv":              {"Download CSV", "Скачать CSV"},
	"report.nets":             {"Net positions", "Нетто-позиции"},
	"report.party":            {"Party", "Участник"},
	"report.receivable":       {"Receives", "Получает"},
	"report.payable":          {"Pays", "Платит"},
	"report.net":              {"Net", "Нетто"},
	"report.matrix":           {"Gross flows, issuer → redeemer", "Валовые потоки, эмитент → партнёр списания"},
	"report.matrix.hint":      {"Rows: the partner whose points were spent (pays). Columns: where they were spent (receives).", "Строки — партнёр, чьи баллы потрачены (платит). Столбцы — где потрачены (получает)."},
	"report.chart":            {"Flows between partners", "Потоки между партнёрами"},
	"report.lines":            {"Report lines", "Строки отчёта"},
	"report.line":             {"Line", "Строка"},
	"report.payer":            {"Payer", "Плательщик"},
	"report.payee":            {"Payee", "Получатель"},
	"report.kind":             {"Kind", "Вид"},
	"report.fees":             {"Operator's fees", "Комиссии оператора"},
	"report.rate":             {"Rate", "Ставка"},
	"report.base":             {"Base", "База"},
	"report.breakage":         {"Breakage (expired points)", "Сгоревшие баллы"},
	"report.instructions":     {"Payments through the operator", "Платежи через оператора"},
	"report.direct":           {"Direct payments", "Прямые платежи"},
	"report.sha":              {"Report SHA-256", "SHA-256 отчёта"},
	"report.drill":            {"Postings", "Проводки"},
	"report.none":             {"Nothing in this window.", "В этом окне ничего нет."},
	"drill.title":             {"Ledger postings behind a line", "Проводки по строке отчёта"},
	"drill.tx":                {"Transaction", "Транзакция"},
	"drill.member":            {"Member", "Участник"},
	"drill.order":             {"Order", "Заказ"},
	"drill.total":             {"Total", "Итого"},
	"drill.back":              {"Back to the report", "Назад к отчёту"},
	"operator.title":          {"Network", "Сеть"},
	"operator.figures":        {"Network figures, last 30 days", "Показатели сети за 30 дней"},
	"operator.members":        {"Members", "Участников"},
	"operator.active":         {"Active members", "Активных участников"},
	"operator.repeat":         {"Repeat purchase rate", "Доля повторных покупок"},
	"operator.check":          {"Average check", "Средний чек"},
	"operator.purchases":      {"Purchases", "Покупок"},
	"operator.issued":         {"Points issued", "Начислено баллов"},
	"operator.burned":         {"Points burned", "Списано баллов"},
	"operator.cross":          {"Burned at another partner", "Списано у другого партнёра"},
	"operator.expired":        {"Points expired", "Сгорело баллов"},
	"operator.partners":       {"Partners", "Партнёры"},
	"operator.code":           {"Code", "Код"},
	"operator.name":           {"Name", "Название"},
	"operator.cert":           {"Certificate valid until", "Сертификат действует до"},
	"operator.nocert":         {"no valid certificate", "нет действующего сертификата"},
	"operator.liability":      {"Outstanding points", "Обязательства, баллы"},
	"operator.limit":          {"Limit", "Лимит"},
	"operator.nolimit":        {"no limit", "без лимита"},
	"operator.active.s":       {"active", "активен"},
	"operator.suspended":      {"suspended", "приостановлен"},
	"operator.rules":          {"Rules and promotions at a glance", "Правила и акции"},
	"operator.earnrate":       {"Base earn rate", "Базовое начисление"},
	"operator.window":         {"Return window", "Срок возврата"},
	"operator.ttl":            {"Points live", "Срок жизни баллов"},
	"operator.days":           {"days", "дн."},
	"operator.version":        {"Rule set version", "Версия правил"},
	"operator.tiers":          {"Tiers", "Уровни"},
	"operator.promotions":     {"Promotions", "Акции"},
	"operator.nopromos":       {"No promotions.", "Акций нет."},
	"operator.referral":       {"Referral bonus", "Бонус за друга"},
	"operator.welcome":        {"Welcome bonus", "Приветственный бонус"},
	"error.title":             {"Something is in the way", "Что-то пошло не так"},
	"error.forbidden":         {"This page is not open to your role.", "Эта страница недоступна для вашей роли."},
	"error.signin":            {"Your session has ended. Sign in again.", "Сеанс завершён. Войдите снова."},
	"error.notfound":          {"Not found.", "Не найдено."},
	"error.invalid":           {"The address is not valid.", "Неверный адрес."},
	"error.notyet":            {"This window has not been cleared yet.", "Это окно ещё не рассчитано."},
	"error.unavailable":       {"The service is unavailable for a moment. Try again.", "Сервис временно недоступен. Попробуйте ещё раз."},
	"error.internal":          {"Something went wrong on our side.", "Что-то пошло не так на нашей стороне."},
	"error.csrf":              {"This form has expired or came from another site. Go back, reload the page and try again.", "Форма устарела или отправлена с другого сайта. Вернитесь, обновите страницу и повторите."},
	"error.home":              {"Home", "На главную"},

	// The finance operations' pages.
	"finops.nav.windows":                   {"Windows", "Расчётные дни"},
	"finops.nav.payments":                  {"Payments", "Платежи"},
	"finops.nav.adjustments":               {"Adjustments", "Корректировки"},
	"finops.nav.accounts":                  {"Bank accounts", "Банковские реквизиты"},
	"finops.nav.liability":                 {"Liability", "Обязательства"},
	"finops.refused":                       {"Not done:", "Не выполнено:"},
	"finops.operator":                      {"The operator", "Оператор"},
	"finops.network":                       {"Network", "Сеть"},
	"finops.note":                          {"Note", "Примечание"},
	"finops.propose":                       {"Propose", "Предложить"},
	"finops.approve":                       {"Approve", "Утвердить"},
	"finops.confirm":                       {"Confirm", "Подтвердить"},
	"finops.reject":                        {"Reject", "Отклонить"},
	"finops.ownproposal":                   {"Proposed by you: another person decides it.", "Предложено вами: решение принимает другой сотрудник."},
	"finops.badamount":                     {"The amount must be a positive sum with at most two decimals, such as 30.00.", "Сумма должна быть положительной, не более двух знаков после запятой, например 30,00."},
	"finops.badpoints":                     {"The points must be a positive whole number.", "Баллы — целое положительное число."},
	"finops.badterms":                      {"Choose how often the party is paid, and give the days to pay as a whole number from 0 to 90.", "Выберите периодичность платежей и укажите срок оплаты целым числом дней от 0 до 90."},
	"finops.status.open":                   {"open", "не оплачен"},
	"finops.status.paid":                   {"paid", "оплачен"},
	"finops.status.partly_paid":            {"partly paid", "оплачен частично"},
	"finops.status.overpaid":               {"overpaid", "переплачен"},
	"finops.status.proposed":               {"proposed", "предложено"},
	"finops.status.approved":               {"approved", "утверждено"},
	"finops.status.rejected":               {"rejected", "отклонено"},
	"finops.status.confirmed":              {"confirmed", "подтверждено"},
	"finops.status.superseded":             {"superseded", "заменено"},
	"finops.payments.title":                {"Payments", "Платежи"},
	"finops.payments.lead":                 {"Each partner settles with the operator's settlement account once per payment period; the bank's statements show what was paid.", "Каждый партнёр рассчитывается с расчётным счётом оператора раз в платёжный период; выписки банка показывают, что оплачено."},
	"finops.make":                          {"Make instructions", "Сформировать платежи"},
	"finops.make.hint":                     {"Makes the instructions of every payment period that has ended with all its windows cleared; a period is made once.", "Формирует платежи за каждый завершённый период, все дни которого рассчитаны; период формируется один раз."},
	"finops.made":                          {"Instructions made", "Сформировано платежей"},
	"finops.file":                          {"Payment file", "Платёжный файл"},
	"finops.file.make":                     {"Make a payment file", "Сформировать платёжный файл"},
	"finops.file.hint":                     {"A payment file carries the operator's payments that no file carries yet; each payment goes into one file only.", "В платёжный файл попадают платежи оператора, которых нет ни в одном файле; каждый платёж — только в одном файле."},
	"finops.file.made":                     {"Payment file made", "Платёжный файл сформирован"},
	"finops.file.when":                     {"Made", "Сформирован"},
	"finops.file.by":                       {"By", "Кем"},
	"finops.file.payments":                 {"Payments", "Платежей"},
	"finops.file.download":                 {"Download", "Скачать"},
	"finops.file.notyet":                   {"not filed yet", "ещё не в файле"},
	"finops.file.held":                     {"held", "задержан"},
	"finops.instructions":                  {"Payment instructions", "Платёжные поручения"},
	"finops.noinstructions":                {"No instructions yet.", "Платежей пока нет."},
	"finops.col.direction":                 {"Direction", "Направление"},
	"finops.col.period":                    {"Period", "Период"},
	"finops.col.due":                       {"Due", "Срок"},
	"finops.col.paid":                      {"Paid", "Оплачено"},
	"finops.col.outstanding":               {"Outstanding", "Остаток"},
	"finops.col.file":                      {"Payment file", "Платёжный файл"},
	"finops.col.side":                      {"Who owes", "Кто должен"},
	"finops.col.booked":                    {"Booked", "Дата проводки"},
	"finops.col.reference":                 {"Reference", "Назначение"},
	"finops.col.why":                       {"Why unmatched", "Почему не сопоставлено"},
	"finops.col.resolve":                   {"Resolve", "Разобрать"},
	"finops.col.what":                      {"What", "Что"},
	"finops.col.reason":                    {"Reason", "Причина"},
	"finops.col.proposedby":                {"Proposed by", "Предложил"},
	"finops.col.decidedby":                 {"Decided by", "Решил"},
	"finops.col.posting":                   {"Posted as", "Проведено"},
	"finops.col.legalname":                 {"Legal name", "Наименование"},
	"finops.col.account":                   {"Account", "Счёт"},
	"finops.col.terms":                     {"Payment terms", "Условия оплаты"},
	"finops.direction.pay":                 {"the operator pays the partner", "оператор платит партнёру"},
	"finops.direction.collect":             {"the partner pays the operator", "партнёр платит оператору"},
	"finops.direction.none":                {"nothing to pay", "платить нечего"},
	"finops.excess":                        {"excess", "излишек"},
	"finops.ageing":                        {"Overdue by partner", "Просрочка по партнёрам"},
	"finops.ageing.hint":                   {"What is outstanding, by days past the due date, as of", "Неоплаченное по дням просрочки на"},
	"finops.ageing.none":                   {"Nothing is outstanding.", "Неоплаченного нет."},
	"finops.ageing.notdue":                 {"Not due", "Срок не наступил"},
	"finops.ageing.1_30":                   {"1–30 days", "1–30 дн."},
	"finops.ageing.31_60":                  {"31–60 days", "31–60 дн."},
	"finops.ageing.61_90":                  {"61–90 days", "61–90 дн."},
	"finops.ageing.over_90":                {"Over 90 days", "Более 90 дн."},
	"finops.side.receivable":               {"the partner owes the operator", "партнёр должен оператору"},
	"finops.side.payable":                  {"the operator owes the partner", "оператор должен партнёру"},
	"finops.unmatched":                     {"Unmatched statement lines", "Несопоставленные строки выписки"},
	"finops.unmatched.hint":                {"Assign a line to the instruction it pays (its end-to-end id), or set it aside with a note saying what it is.", "Отнесите строку к платежу, который она оплачивает (по его end-to-end id), или отложите её с примечанием, что это за операция."},
	"finops.unmatched.none":                {"Every statement line matches an instruction.", "Все строки выписок сопоставлены с платежами."},
	"finops.linedir.credit":                {"money in", "поступление"},
	"finops.linedir.debit":                 {"money out", "списание"},
	"finops.reversal":                      {"reversal", "сторно"},
	"finops.reason.no_end_to_end_id":       {"no end-to-end id", "нет end-to-end id"},
	"finops.reason.unknown_end_to_end_id":  {"unknown end-to-end id", "неизвестный end-to-end id"},
	"finops.reason.currency_mismatch":      {"another currency", "другая валюта"},
	"finops.reason.direction_mismatch":     {"money moved the other way", "деньги прошли в обратном направлении"},
	"finops.line.instruction":              {"Instruction", "Платёж"},
	"finops.line.assign":                   {"Assign", "Отнести"},
	"finops.line.aside":                    {"Set aside", "Отложить"},
	"finops.line.noinstruction":            {"Name the instruction (its end-to-end id) to assign the line to.", "Укажите платёж (его end-to-end id), к которому отнести строку."},
	"finops.resolved":                      {"The statement line is resolved.", "Строка выписки разобрана."},
	"finops.setaside":                      {"Set aside", "Отложенные строки"},
	"finops.import":                        {"Import a bank statement", "Загрузить выписку банка"},
	"finops.import.file":                   {"Statement file", "Файл выписки"},
	"finops.import.format":                 {"Format", "Формат"},
	"finops.import.hint":                   {"A statement of the operator's settlement account. Lines imported before are recognised and add nothing.", "Выписка по расчётному счёту оператора. Уже загруженные строки распознаются и не добавляются повторно."},
	"finops.import.submit":                 {"Import", "Загрузить"},
	"finops.import.nofile":                 {"Choose a statement file to import.", "Выберите файл выписки."},
	"finops.import.toolarge":               {"The statement file is too large.", "Файл выписки слишком большой."},
	"finops.imported":                      {"Statement imported, lines", "Выписка загружена, строк"},
	"finops.imported.added":                {"new", "новых"},
	"finops.imported.duplicates":           {"already imported", "уже загружено"},
	"finops.adjustments.title":             {"Adjustments", "Корректировки"},
	"finops.adjustments.lead":              {"Corrections one person proposes and another approves: points to a member, or money between parties for a cleared window.", "Исправления, которые один сотрудник предлагает, а другой утверждает: баллы участнику или деньги между сторонами за рассчитанный день."},
	"finops.adjustments.list":              {"Adjustments", "Корректировки"},
	"finops.adjustments.none":              {"No adjustments yet.", "Корректировок пока нет."},
	"finops.adjustments.proposed":          {"Adjustment proposed: another person must approve it.", "Корректировка предложена: её должен утвердить другой сотрудник."},
	"finops.adj.points":                    {"Points to a member", "Баллы участнику"},
	"finops.adj.money":                     {"Money between parties", "Деньги между сторонами"},
	"finops.adj.member":                    {"Member id", "Идентификатор участника"},
	"finops.adj.funder":                    {"Funded by", "За счёт"},
	"finops.adj.window":                    {"Cleared window (business day)", "Рассчитанный операционный день"},
	"finops.fundedby":                      {"funded by", "за счёт"},
	"finops.forwindow":                     {"for", "за"},
	"finops.awaiting":                      {"awaiting the next instructions", "войдёт в следующие платежи"},
	"finops.accounts.title":                {"Bank accounts", "Банковские реквизиты"},
	"finops.accounts.lead":                 {"Every version of the parties' banking details and payment terms. A version takes effect once a second person confirms it.", "Все версии банковских реквизитов и условий оплаты сторон. Версия вступает в силу, когда её подтвердит второй сотрудник."},
	"finops.accounts.list":                 {"Versions", "Версии"},
	"finops.accounts.none":                 {"No banking details yet.", "Реквизитов пока нет."},
	"finops.accounts.proposed":             {"Banking details proposed: another person must confirm them.", "Реквизиты предложены: их должен подтвердить другой сотрудник."},
	"finops.accounts.propose":              {"Propose banking details", "Предложить реквизиты"},
	"finops.accounts.number":               {"Account number", "Номер счёта"},
	"finops.accounts.ibanhint":             {"An IBAN, or an account number with the bank's BIC for a bank without IBANs.", "IBAN или, для банка без IBAN, номер счёта и BIC банка."},
	"finops.accounts.currency":             {"Currency", "Валюта"},
	"finops.accounts.frequency":            {"Paid", "Периодичность"},
	"finops.accounts.days":                 {"Days to pay after the period ends", "Дней на оплату после конца периода"},
	"finops.terms.days":                    {"days to pay:", "дней на оплату:"},
	"finops.freq.daily":                    {"daily", "ежедневно"},
	"finops.freq.weekly":                   {"weekly", "еженедельно"},
	"finops.freq.monthly":                  {"monthly", "ежемесячно"},
	"finops.liability.title":               {"Points liability", "Обязательства по баллам"},
	"finops.liability.notfinal":            {"Not final: some windows of this month are not cleared yet, and the figures can still change.", "Не окончательно: не все дни месяца рассчитаны, цифры ещё могут измениться."},
	"finops.liability.pointvalue":          {"1 point =", "1 балл ="},
	"finops.liability.hint":                {"Figures in points unless marked.", "Цифры в баллах, если не указано иное."},
	"finops.liability.roll":                {"Roll-forward", "Движение обязательств"},
	"finops.liability.issuer":              {"Issuer", "Эмитент"},
	"finops.liability.opening":             {"Opening", "На начало"},
	"finops.liability.issued":              {"Issued", "Начислено"},
	"finops.liability.burned":              {"Burned", "Списано"},
	"finops.liability.debtpaid":            {"Debt paid", "Погашено долгов"},
	"finops.liability.clawedback":          {"Clawed back", "Возвращено"},
	"finops.liability.expired":             {"Expired", "Сгорело"},
	"finops.liability.closing":             {"Closing", "На конец"},
	"finops.liability.value":               {"Value", "Стоимость"},
	"finops.liability.breakage":            {"Breakage", "Доля сгорания"},
	"finops.liability.ageing":              {"Ageing by expiry", "Сроки сгорания"},
	"finops.liability.ageing.hint":         {"The closing points by the days left to their expiry at the month's end.", "Баллы на конец месяца по числу дней до сгорания."},
	"finops.bucket.expired, not yet swept": {"Expired, not yet swept", "Истекли, ещё не списаны"},
	"finops.bucket.1-30 days":              {"1–30 days", "1–30 дн."},
	"finops.bucket.31-90 days":             {"31–90 days", "31–90 дн."},
	"finops.bucket.91-180 days":            {"91–180 days", "91–180 дн."},
	"finops.bucket.181-365 days":           {"181–365 days", "181–365 дн."},
	"finops.bucket.over 365 days":          {"Over 365 days", "Более 365 дн."},

	// The partner portal (portal.go).
	"nav.partner":                   {"Partner portal", "Кабинет партнёра"},
	"portal.title":                  {"Partner portal", "Кабинет партнёра"},
	"portal.lead":                   {"Your partner's own pages in the coalition. Your role:", "Страницы вашей компании в коалиции. Ваша роль:"},
	"portal.nav.home":               {"Home", "Главная"},
	"portal.statements":             {"Statements", "Выписки"},
	"portal.statements.hint":        {"Your statement for each cleared settlement day: your lines only, with a CSV download.", "Ваша выписка за каждый закрытый расчётный день: только ваши строки, с выгрузкой в CSV."},
	"portal.statement":              {"Statement", "Выписка"},
	"portal.payments":               {"Payments", "Платежи"},
	"portal.payments.hint":          {"What you pay and what you are paid, and how far each payment has gone.", "Что вы платите и что платят вам, и в каком состоянии каждый платёж."},
	"portal.payment":                {"Payment", "Платёж"},
	"portal.staff":                  {"Staff", "Сотрудники"},
	"portal.staff.hint":             {"Your people's sign-in credentials: issue one for a role, revoke it when they leave.", "Учётные данные ваших сотрудников для входа: выпустите их для роли и отзовите, когда сотрудник уходит."},
	"portal.staff.issue":            {"Issue a credential", "Выпустить учётные данные"},
	"portal.keys":                   {"API keys", "Ключи API"},
	"portal.keys.hint":              {"Keys your systems call the coalition's API with: issue, rotate (the old key works one more day) or revoke.", "Ключи, с которыми ваши системы обращаются к API коалиции: выпуск, замена (старый ключ работает ещё сутки) и отзыв."},
	"portal.keys.issue":             {"Issue a key", "Выпустить ключ"},
	"portal.marketing.soon":         {"Analytics and offers will appear here.", "Здесь появятся аналитика и предложения."},
	"portal.issued":                 {"Issued for", "Выпущено для"},
	"portal.shownonce":              {"Shown once: copy it now and hand it over privately.", "Показывается один раз: скопируйте сейчас и передайте лично."},
	"portal.name":                   {"Name", "Имя"},
	"portal.role":                   {"Role", "Роль"},
	"portal.created":                {"Issued", "Выпущено"},
	"portal.rotate":                 {"Rotate", "Заменить"},
	"portal.revoke":                 {"Revoke", "Отозвать"},
	"portal.none":                   {"None yet.", "Пока нет."},
	"portal.role.partner":           {"API key", "Ключ API"},
	"portal.role.partner-admin":     {"Administrator", "Администратор"},
	"portal.role.partner-finance":   {"Finance", "Финансы"},
	"portal.role.partner-marketing": {"Marketing", "Маркетинг"},
	"portal.state.active":           {"active", "действует"},
	"portal.state.expires":          {"rotated, works until", "заменён, действует до"},
	"portal.state.revoked":          {"revoked", "отозван"},

	// The portal's certificates and drill-down (portal_certs.go, portal_drill.go).
	"portal.certs":              {"Certificates", "Сертификаты"},
	"portal.certs.hint":         {"Client certificates your systems connect to the coalition with (mutual TLS): issue a new one, then revoke the old once your systems use the new.", "Клиентские сертификаты, с которыми ваши системы подключаются к коалиции (взаимный TLS): выпустите новый и отзовите старый, когда системы перейдут на новый."},
	"portal.certs.issue":        {"Issue a new certificate", "Выпустить новый сертификат"},
	"portal.certs.rotation":     {"Your other certificates keep working until you revoke them.", "Остальные ваши сертификаты действуют, пока вы их не отзовёте."},
	"portal.certs.issued":       {"Issued certificate", "Выпущен сертификат"},
	"portal.certs.until":        {"valid until", "действует до"},
	"portal.certs.shownonce":    {"Save the three files now: the private key is shown this once and kept nowhere, not even by the coalition.", "Сохраните три файла сейчас: закрытый ключ показывается один раз и нигде не хранится, даже в коалиции."},
	"portal.certs.key":          {"Private key", "Закрытый ключ"},
	"portal.certs.confirm":      {"Revoke certificate", "Отозвать сертификат"},
	"portal.certs.confirm.hint": {"Systems that connect with it are refused within a minute. A revoked certificate cannot be restored.", "Системы, которые подключаются с ним, получат отказ в течение минуты. Отозванный сертификат нельзя восстановить."},
	"portal.certs.revoke":       {"Revoke for good", "Отозвать окончательно"},
	"portal.certs.cancel":       {"Keep it", "Оставить"},
	"portal.certs.operator":     {"The coalition's operator issues and revokes your certificates: ask them.", "Сертификаты выпускает и отзывает оператор коалиции: обратитесь к нему."},
	"portal.certs.serial":       {"Serial", "Серийный номер"},
	"portal.certs.cn":           {"Common name", "Имя (CN)"},
	"portal.certs.from":         {"Valid from", "Действует с"},
	"portal.certs.to":           {"Valid until", "Действует до"},
	"portal.certstate.active":   {"active", "действует"},
	"portal.certstate.expiring": {"expiring soon", "скоро истекает"},
	"portal.certstate.expired":  {"expired", "истёк"},
	"portal.certstate.revoked":  {"revoked", "отозван"},
	"portal.drill.back":         {"Back to the statement", "К выписке"},
	"portal.drill.hint":         {"The transactions behind this line. Another partner's part shows as one total, without its customers or orders.", "Операции, из которых сложилась строка. Доля другого партнёра показана одной суммой, без его клиентов и заказов."},
	"portal.drill.others":       {"another partner's, in total", "другого партнёра, итогом"},
	// The analytics pages (analytics.go).
	"portal.analytics":            {"Analytics", "Аналитика"},
	"portal.analytics.hint":       {"Your members, purchases, points and promotions over a period, against the period before.", "Ваши участники, покупки, баллы и акции за период в сравнении с предыдущим."},
	"operator.analytics":          {"Analytics", "Аналитика"},
	"analytics.network":           {"the whole network", "вся сеть"},
	"analytics.from":              {"From", "С"},
	"analytics.to":                {"To", "По"},
	"analytics.scope":             {"Whose figures", "Чьи показатели"},
	"analytics.show":              {"Show", "Показать"},
	"analytics.against":           {"against", "в сравнении с"},
	"analytics.rolledup":          {"Counted up to the cleared day", "Учтены дни по закрытый"},
	"analytics.nothing":           {"no cleared day counted yet", "закрытых дней ещё нет"},
	"analytics.figures":           {"Figures", "Показатели"},
	"analytics.figures.hint":      {"Money in the coalition's currency; shares and changes in per cent of the previous period, rounded down.", "Деньги в валюте коалиции; доли и изменения в процентах к предыдущему периоду, с округлением вниз."},
	"analytics.figure":            {"Figure", "Показатель"},
	"analytics.current":           {"This period", "Этот период"},
	"analytics.previous":          {"Previous period", "Предыдущий период"},
	"analytics.change":            {"Change", "Изменение"},
	"analytics.acquired":          {"Members acquired", "Привлечено участников"},
	"analytics.active":            {"Active members (bought)", "Активных участников (с покупкой)"},
	"analytics.repeat":            {"Repeat members (bought twice or more)", "Повторно купивших (2 раза и более)"},
	"analytics.repeatshare":       {"Repeat-purchase share", "Доля повторных покупок"},
	"analytics.purchases":         {"Purchases", "Покупок"},
	"analytics.frequency":         {"Purchases per active member", "Покупок на активного участника"},
	"analytics.spent":             {"Spent", "Сумма покупок"},
	"analytics.check":             {"Average check", "Средний чек"},
	"analytics.permember":         {"Spend per active member", "Сумма на активного участника"},
	"analytics.refunds":           {"Refunds", "Возвратов"},
	"analytics.refunded":          {"Refunded", "Возвращено"},
	"analytics.issued":            {"Points issued", "Начислено баллов"},
	"analytics.burned":            {"Points spent", "Списано баллов"},
	"analytics.elsewhere":         {"Points spent at a partner other than their issuer", "Баллов списано не у начислившего партнёра"},
	"analytics.expired":           {"Points expired", "Сгорело баллов"},
	"analytics.clawedback":        {"Points clawed back by refunds", "Баллов возвращено при возвратах"},
	"analytics.chart.compare":     {"This period against the previous one", "Этот период в сравнении с предыдущим"},
	"analytics.acquisition":       {"Members acquired, by channel", "Привлечённые участники по каналам"},
	"analytics.chart.acquisition": {"Members acquired by partner and channel", "Привлечённые участники по партнёрам и каналам"},
	"analytics.channel":           {"Channel", "Канал"},
	"analytics.channel.api":       {"partner's systems", "системы партнёра"},
	"analytics.channel.qr":        {"QR at the counter", "QR на кассе"},
	"analytics.location":          {"Point of sale", "Точка продаж"},
	"analytics.members":           {"Members", "Участников"},
	"analytics.cross":             {"Cross-shopping", "Кросс-покупки"},
	"analytics.cross.hint":        {"Members enrolled at one partner who bought at another. Cells of fewer than 5 of another partner's customers are hidden.", "Участники, зарегистрированные у одного партнёра и купившие у другого. Ячейки меньше чем из 5 клиентов другого партнёра скрыты."},
	"analytics.chart.cross":       {"Members of one partner buying at another", "Участники одного партнёра, покупающие у другого"},
	"analytics.home":              {"Enrolled at", "Зарегистрирован у"},
	"analytics.boughtat":          {"Bought at", "Покупал у"},
	"analytics.suppressed":        {"fewer than 5", "меньше 5"},
	"analytics.flows":             {"Where points were spent", "Где списаны баллы"},
	"analytics.flows.hint":        {"Points issued by one partner and spent at another, net of refunds of spends.", "Баллы, начисленные одним партнёром и списанные у другого, за вычетом возвратов списаний."},
	"analytics.issuer":            {"Issued by", "Начислил"},
	"analytics.redeemer":          {"Spent at", "Списаны у"},
	"analytics.points":            {"Points", "Баллов"},
	"analytics.cohorts":           {"Retention by enrolment month", "Удержание по месяцу регистрации"},
	"analytics.cohorts.hint":      {"Of the members enrolled in a month, the share who bought in each month the period touches.", "Доля участников, зарегистрированных в месяце, купивших в каждом месяце, который затрагивает период."},
	"analytics.chart.cohorts":     {"Retention heatmap: the darker, the more of the cohort bought", "Тепловая карта удержания: чем темнее, тем больше купивших"},
	"analytics.enrolled.month":    {"Enrolled in", "Регистрация"},
	"analytics.active.month":      {"Bought in", "Покупка"},
	"analytics.enrolled":          {"Enrolled", "Зарегистрировано"},
	"analytics.retention":         {"Retention", "Удержание"},
	"analytics.promotions":        {"Promotion results", "Результаты акций"},
	"analytics.promotions.hint":   {"Per promotion, offer or coupon and till: members reached, purchases and points given; what a member spent at the till on a day they received it against members who bought there on those days without it; and the budget used to date.", "По каждой акции, предложению или купону и кассе: охват, покупки и начисленные баллы; сумма покупок участника на кассе в день, когда он получил бонус, в сравнении с купившими там в те же дни без него; и израсходованный бюджет."},
	"analytics.promotion":         {"Promotion", "Акция"},
	"analytics.rule.promotion":    {"promotion", "акция"},
	"analytics.rule.offer":        {"personal offer", "персональное предложение"},
	"analytics.rule.coupon":       {"coupon", "купон"},
	"analytics.till":              {"At the till of", "На кассе"},
	"analytics.funder":            {"Funded by", "За счёт"},
	"analytics.reached":           {"Members reached", "Охват"},
	"analytics.participants":      {"Spend a day, participants", "Покупки за день, участники"},
	"analytics.others":            {"Spend a day, others", "Покупки за день, остальные"},
	"analytics.budget":            {"Budget used", "Израсходовано бюджета"},
	"analytics.none":              {"Nothing in this period.", "В этом периоде нет данных."},
	"analytics.nopromos":          {"No promotion gave points in this period.", "В этом периоде акции не начисляли баллов."},

	// segments.go
	"segments.title":        {"Segments", "Сегменты"},
	"segments.hint":         {"Groups of members for offers, recomputed every day after clearing: sizes and score counts only, never who is in them.", "Группы участников для предложений, пересчитываются каждый день после клиринга: только размеры и распределение оценок, без списка участников."},
	"segments.scope":        {"Whose segments", "Чьи сегменты"},
	"segments.coalition":    {"The coalition's", "Коалиции"},
	"segments.show":         {"Show", "Показать"},
	"segments.list":         {"Defined segments", "Заданные сегменты"},
	"segments.code":         {"Code", "Код"},
	"segments.name":         {"Name", "Название"},
	"segments.definition":   {"Conditions", "Условия"},
	"segments.asof":         {"As of", "На дату"},
	"segments.size":         {"Members", "Участников"},
	"segments.notyet":       {"not computed yet", "ещё не рассчитан"},
	"segments.suppressed":   {"fewer than 5", "меньше 5"},
	"segments.retire":       {"Retire", "Вывести из работы"},
	"segments.retired":      {"retired", "выведен"},
	"segments.csv":          {"Download the table (CSV)", "Скачать таблицу (CSV)"},
	"segments.none":         {"No segments yet.", "Сегментов пока нет."},
	"segments.grid":         {"Members by recency and frequency score", "Участники по оценкам давности и частоты"},
	"segments.gridhint":     {"RFM scores over the last 365 days, 1 (worst) to 5 (best), by quintile.", "Оценки RFM за последние 365 дней, от 1 (худшая) до 5 (лучшая), по квинтилям."},
	"segments.axes":         {"recency score → (frequency score ↑)", "оценка давности → (оценка частоты ↑)"},
	"segments.scored":       {"members scored", "участников с оценкой"},
	"segments.define":       {"Define a segment", "Задать сегмент"},
	"segments.tiers":        {"Tiers (codes, comma-separated)", "Уровни (коды через запятую)"},
	"segments.categories":   {"Bought in categories (comma-separated)", "Покупали в категориях (через запятую)"},
	"segments.visited":      {"Bought at partners (codes, comma-separated)", "Покупали у партнёров (коды через запятую)"},
	"segments.minpartners":  {"Bought at this many partners or more", "Покупали не менее чем у стольких партнёров"},
	"segments.lapsed":       {"No purchase for this many days", "Без покупок столько дней"},
	"segments.birthday":     {"Birthday month (1–12)", "Месяц рождения (1–12)"},
	"segments.scores":       {"RFM score ranges (1–5)", "Диапазоны оценок RFM (1–5)"},
	"segments.submit":       {"Define", "Задать"},
	"portal.segments":       {"Segments", "Сегменты"},
	"portal.segments.hint":  {"your customers by recency, frequency and spend, and segments of your own rules", "ваши клиенты по давности, частоте и сумме покупок и сегменты по вашим правилам"},
	"operator.segments":     {"Segments", "Сегменты"},
	"member.birthday":       {"Your birthday", "Ваш день рождения"},
	"member.birthday.hint":  {"If you tell us, partners may send you a birthday offer. The year is optional.", "Если укажете, партнёры смогут прислать предложение ко дню рождения. Год — по желанию."},
	"member.birthday.save":  {"Save", "Сохранить"},
	"member.birthday.day":   {"Day", "День"},
	"member.birthday.month": {"Month", "Месяц"},
	"member.birthday.year":  {"Year", "Год"},
	"member.birthday.saved": {"Saved.", "Сохранено."},
}
