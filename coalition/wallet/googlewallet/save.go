package googlewallet

import (
	"fmt"
	"time"

	"github.com/coalition-loyalty/coalition/coalition/wallet/internal/jws"
)

// SaveURLPrefix starts every "Save to Google Wallet" link.
const SaveURLPrefix = "https://pay.google.com/gp/v/save/"

// SaveLink returns the "Save to Google Wallet" link for objects, signed by
// sa at the instant at. origins lists the sites allowed to show the button
// (scheme and host, e.g. "https://rewards.example"); it may be empty for a
// plain link.
//
// Google creates any object in the link that does not exist yet, so a full
// object works without a prior insert. Browsers and mail clients cut very
// long URLs, though: for a card with many partners insert the object first
// (UpsertObject) and pass LoyaltyObject{ID: id, ClassID: classID} here.
func SaveLink(sa ServiceAccount, at time.Time, origins []string, objects ...LoyaltyObject) (string, error) {
	if err := sa.check(); err != nil {
		return "", err
	}
	if len(objects) == 0 {
		return "", fmt.Errorf("googlewallet: save link needs at least one object")
	}
	if origins == nil {
		origins = []string{} // Google's example sends [], not null
	}
	claims := struct {
		Iss     string   `json:"iss"`
		Aud     string   `json:"aud"`
		Typ     string   `json:"typ"`
		Iat     int64    `json:"iat"`
		Origins []string `json:"origins"`
		Payload struct {
			LoyaltyObjects []LoyaltyObject `json:"loyaltyObjects"`
		} `json:"payload"`
	}{Iss: sa.Email, Aud: "google", Typ: "savetowallet", Iat: at.Unix(), Origins: origins}
	claims.Payload.LoyaltyObjects = objects
	token, err := jws.Sign(sa.Key, sa.KeyID, "JWT", claims)
	if err != nil {
		return "", fmt.Errorf("googlewallet: save link: %w", err)
	}
	return SaveURLPrefix + token, nil
}
