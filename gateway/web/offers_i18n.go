package web

// offersMessages are the words of the portal's offers page and of the
// member's offers, in every language of the pages.
var offersMessages = map[string][2]string{
	"offers.title":           {"Offers", "Предложения"},
	"offers.hint":            {"Personal offers for your segments, or for coupons you print or send: points funded by you, up to a budget.", "Персональные предложения для ваших сегментов или по купонам, которые вы печатаете или рассылаете: баллы за ваш счёт, в пределах бюджета."},
	"offers.list":            {"Your offers", "Ваши предложения"},
	"offers.code":            {"Code", "Код"},
	"offers.name":            {"Name", "Название"},
	"offers.target":          {"For", "Для кого"},
	"offers.segment":         {"segment", "сегмент"},
	"offers.members":         {"members", "участников"},
	"offers.couponsonly":     {"coupon holders", "владельцев купонов"},
	"offers.gives":           {"Gives (points)", "Даёт (баллы)"},
	"offers.period":          {"Period (UTC)", "Период (UTC)"},
	"offers.budgetused":      {"Budget used", "Использовано бюджета"},
	"offers.coupons":         {"Coupons", "Купоны"},
	"offers.uses":            {"Coupon uses", "Использовано купонов"},
	"offers.count":           {"Coupons", "Купонов"},
	"offers.maxuses":         {"uses each", "использований каждый"},
	"offers.issue":           {"Issue (CSV)", "Выпустить (CSV)"},
	"offers.end":             {"End now", "Завершить"},
	"offers.ended":           {"Ended", "Завершено"},
	"offers.couponscsv":      {"Coupons (CSV)", "Купоны (CSV)"},
	"offers.csv":             {"Download as CSV", "Скачать CSV"},
	"offers.none":            {"No offers yet.", "Предложений пока нет."},
	"offers.create":          {"Make an offer", "Новое предложение"},
	"offers.bonus":           {"Bonus points per purchase", "Бонусные баллы за покупку"},
	"offers.multiplier":      {"Extra share of the base points (basis points: 10000 = double)", "Доля к базовым баллам (в базисных пунктах: 10000 = вдвое)"},
	"offers.categories":      {"Categories (comma-separated; empty: any)", "Категории (через запятую; пусто — любые)"},
	"offers.minpurchase":     {"Minimum purchase", "Минимальная покупка"},
	"offers.starts":          {"From", "С"},
	"offers.ends":            {"To (included)", "По (включительно)"},
	"offers.budget":          {"Budget (points in all)", "Бюджет (всего баллов)"},
	"offers.submit":          {"Make the offer", "Создать"},
	"portal.offers":          {"Offers", "Предложения"},
	"offers.operatorhint":    {"Every partner's personal offers and the coalition's own; the operator's offers target the coalition's segments and are funded by whom they name.", "Персональные предложения всех партнёров и самой коалиции; предложения оператора адресованы сегментам коалиции и оплачиваются тем, кого они называют."},
	"offers.all":             {"Every offer", "Все предложения"},
	"offers.owner":           {"Made by", "Автор"},
	"offers.fundedby":        {"Funded by", "За чей счёт"},
	"offers.fundedoperator":  {"the operator", "оператор"},
	"offers.fundedpartner":   {"the partner where the member buys", "партнёр, у которого покупка"},
	"offers.partners":        {"Valid at (partner codes, comma-separated; empty: any)", "Действует у партнёров (коды через запятую; пусто — у всех)"},
	"operator.offers":        {"Offers", "Предложения"},
	"portal.offers.hint":     {"personal offers and coupons for your customers", "персональные предложения и купоны для ваших клиентов"},
	"member.personal":        {"Personal offers", "Персональные предложения"},
	"member.personal.hint":   {"Extra points waiting for you; a coupon is shown at the till with your card.", "Дополнительные баллы для вас; купон показывают на кассе вместе с картой."},
	"member.personal.at":     {"at", "в"},
	"member.personal.any":    {"at any partner", "у любого партнёра"},
	"member.personal.until":  {"until", "до"},
	"member.personal.coupon": {"Your coupon", "Ваш купон"},
}

func init() {
	for k, v := range offersMessages {
		messages[k] = v
	}
}
