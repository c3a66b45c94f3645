#!/usr/bin/env bash
# Makes development TLS certificates for ops/nats/secure.conf into DIR
# (default data/certs): a CA, the server's certificate (localhost,
# 127.0.0.1), and one client certificate per ROLE (default: the five
# below), whose e-mail address is the user nats-server maps it to
# (tls.verify_and_map):
#
#   bash ops/nats/dev-certs.sh [DIR [ROLE...]]
#
#   hr-publisher@muster.invalid   an HR system: publishes events, reads its receipts
#   ledger@muster.invalid         the ledger service
#   query@muster.invalid          a query replica
#   auditor@muster.invalid        an auditor: asks queries
#   witness@muster.invalid        a witness: cosigns checkpoints, raises alarms
#
# A ROLE@PREFIX (e.g. hr-publisher@bureau-a) is that role in the
# organisation of that subject prefix: user hr-publisher@bureau-a.invalid,
# files hr-publisher@bureau-a.pem and -key.pem (muster nats-accounts).
#
# Idempotent: an existing DIR/ca.pem is kept, and so is every certificate
# already made. For development and tests only: the CA key lies next to
# the certificates, unencrypted. In production, take certificates from
# your own CA and keep its key elsewhere.
set -euo pipefail
dir="${1:-data/certs}"
shift || true
roles=("$@")
[ ${#roles[@]} -gt 0 ] || roles=(hr-publisher ledger query auditor witness)
mkdir -p "$dir"
cd "$dir"
umask 077

days=825
if [ ! -f ca.pem ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$days" \
    -subj "/O=Muster development/CN=Muster development CA" \
    -keyout ca-key.pem -out ca.pem 2>/dev/null
fi

# issue NAME SUBJECT_ALT_NAMES EXTENDED_KEY_USAGE
issue() {
  local name=$1 san=$2 usage=$3
  [ -f "$name.pem" ] && return 0
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/O=Muster development/CN=$name" -keyout "$name-key.pem" -out "$name.csr" 2>/dev/null
  printf 'subjectAltName=%s\nextendedKeyUsage=%s\nkeyUsage=digitalSignature\nbasicConstraints=CA:FALSE\n' \
    "$san" "$usage" > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days "$days" \
    -extfile "$name.ext" -out "$name.pem" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}

issue server "DNS:localhost,IP:127.0.0.1" serverAuth
for role in "${roles[@]}"; do
  case "$role" in
    *@*) issue "$role" "email:$role.invalid" clientAuth ;;
    *) issue "$role" "email:$role@muster.invalid" clientAuth ;;
  esac
done
# Certificates are public; keys stay private (umask above).
chmod 644 ./*.pem
chmod 600 ./*-key.pem
echo "certificates in $(pwd)" >&2
