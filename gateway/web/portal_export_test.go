package web

// PartnerPages is who may open each page of the portal, for the
// authorization test (package web_test) to walk.
var PartnerPages = partnerPages
