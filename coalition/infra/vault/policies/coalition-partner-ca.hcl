# The partner portal's certificates page (coalitiond's --partner-ca-*
# credential): issue partners' client certificates and revoke them, so a
# partner's admin can rotate the partner's own. Kept apart from the
# server's own policy (coalitiond), which may mint no partner identity: a
# coalition that wants partners to serve themselves gives the server this
# second credential; the others leave it to the operator.
path "coalition-pki/issue/partner" {
  capabilities = ["create", "update"]
}
path "coalition-pki/revoke" {
  capabilities = ["create", "update"]
}
