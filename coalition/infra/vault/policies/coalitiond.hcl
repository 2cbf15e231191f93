# The coalition server (AppRole "coalitiond"): issue its own TLS certificate,
# read the CA chain and the revocation list, and hash phone numbers and API
# keys with transit keys it can use but never read or export.
path "coalition-pki/issue/server" {
  capabilities = ["create", "update"]
}
path "coalition-pki/cert/ca_chain" {
  capabilities = ["read"]
}
path "coalition-pki/crl" {
  capabilities = ["read"]
}
path "coalition-transit/hmac/phone-hash/*" {
  capabilities = ["create", "update"]
}
path "coalition-transit/hmac/api-key/*" {
  capabilities = ["create", "update"]
}
# Renew and look up its own token.
path "auth/token/renew-self" {
  capabilities = ["update"]
}
path "auth/token/lookup-self" {
  capabilities = ["read"]
}
# Read the wallet credentials (Apple pass type certificate, APNs key,
# Google service account) at start.
path "coalition-secrets/data/wallet/*" {
  capabilities = ["read"]
}
