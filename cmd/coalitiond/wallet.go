package main

import (
	"context"

	"github.com/coalition-loyalty/coalition/coalition/infra/vault"
	"github.com/coalition-loyalty/coalition/gateway/server"
)

// The dev pass type, for which dev mode's certificate is made.
const (
	devPassTypeID = "pass.org.coalition.dev"
	devTeamID     = "DEVTEAM000"
)

// devWallet gives dev mode wallet credentials where Vault has none, as an
// operator gives real ones: a pass type certificate from the coalition's
// own CA (for the dev pass type unless flags name another), and a Google
// service account that Google does not know, whose passes the server keeps
// off Google's API. No APNs key: pushes are skipped and logged.
func devWallet(ctx context.Context, operator *vault.Client, w *server.WalletConfig) error {
	if w.PassTypeID == "" {
		w.PassTypeID, w.TeamID = devPassTypeID, devTeamID
	}
	return operator.EnsureDevWallet(ctx, w.PassTypeID, w.TeamID)
}
