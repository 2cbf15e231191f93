# Operators onboarding partners (coalitionctl): issue, list and revoke
# partners' client certificates, and hash phone numbers and API keys.
path "coalition-pki/issue/partner" {
  capabilities = ["create", "update"]
}
path "coalition-pki/revoke" {
  capabilities = ["create", "update"]
}
path "coalition-pki/cert/*" {
  capabilities = ["read", "list"]
}
path "coalition-pki/certs" {
  capabilities = ["list"]
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
path "coalition-pki/issue/staff" {
  capabilities = ["create", "update"]
}
# Store the wallet credentials Apple and Google issue (coalitionctl vault
# put-wallet-…).
path "coalition-secrets/data/wallet/*" {
  capabilities = ["create", "update", "read"]
}
