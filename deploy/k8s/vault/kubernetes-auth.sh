#!/bin/sh
# Wire Vault's Kubernetes auth method to the coalition. Run once, after
# `coalitionctl vault bootstrap` (which writes the coalitiond policy), with
# an operator's token; run again, it rewrites the same configuration.
#
#   export VAULT_ADDR=https://vault.example:8200 VAULT_TOKEN=...
#   kubectl -n coalition get configmap vault-kubernetes-auth \
#     -o jsonpath='{.data.kubernetes-auth\.sh}' > kubernetes-auth.sh
#
# Vault inside the cluster (it reviews tokens with its own ServiceAccount):
#   sh kubernetes-auth.sh
# Vault outside the cluster:
#   KUBERNETES_HOST=https://api.cluster.example:6443 \
#   KUBERNETES_CA_CERT="$(kubectl config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d)" \
#   REVIEWER_JWT="$(kubectl -n coalition get secret vault-token-reviewer -o jsonpath='{.data.token}' | base64 -d)" \
#   sh kubernetes-auth.sh
set -eu

: "${VAULT_ADDR:?set VAULT_ADDR}"
: "${VAULT_TOKEN:?set VAULT_TOKEN to an operator's token}"

if ! vault auth list -format=json | grep -q '"kubernetes/"'; then
  vault auth enable kubernetes
fi

if [ -n "${REVIEWER_JWT:-}" ]; then
  vault write auth/kubernetes/config \
    kubernetes_host="${KUBERNETES_HOST:?set KUBERNETES_HOST}" \
    kubernetes_ca_cert="${KUBERNETES_CA_CERT:?set KUBERNETES_CA_CERT}" \
    token_reviewer_jwt="$REVIEWER_JWT"
else
  vault write auth/kubernetes/config \
    kubernetes_host="${KUBERNETES_HOST:-https://kubernetes.default.svc}"
fi

# The same least-privilege policy as the server's AppRole, for pods of the
# ServiceAccount coalition/coalitiond presenting a token meant for Vault.
vault write auth/kubernetes/role/coalitiond \
  bound_service_account_names=coalitiond \
  bound_service_account_namespaces=coalition \
  audience=vault \
  token_policies=coalitiond \
  token_ttl=1h \
  token_max_ttl=24h

echo "Kubernetes auth: role coalitiond bound to coalition/coalitiond (policy coalitiond)"
