#!/bin/sh
# Entrypoint of the Keyhold enclave image (runs inside the Nitro enclave).
#
# An enclave has no network device, only vsock to its parent instance
# (AWS Nitro Enclaves User Guide, "Nitro Enclaves concepts"). So:
#   inbound   vsock port 8080/8081 -> socat -> 127.0.0.1:8080/8081 (Keyhold)
#   outbound  127.0.0.1:<port> -> socat -> vsock CID 3 (the parent) :<vsock port>
#             -> vsock-proxy on the parent -> the real host (KMS, PostgreSQL, ...)
# TLS terminates in Keyhold, inside the enclave: the parent relays bytes it
# cannot read. The TLS key is created here at every start and never leaves
# enclave memory; clients trust the certificate because the attestation
# document binds its SHA-256 (docs/protocols.md §2, user_data), not through a CA.
set -eu

log() { printf 'keyhold-enclave-init: %s\n' "$*" >&2; }

# The parent instance is always vsock CID 3 as seen from the enclave.
PARENT_CID=3
API_PORT="${KEYHOLD_API_PORT:-8080}"
HEALTH_PORT="${KEYHOLD_HEALTH_PORT:-8081}"
# Space-separated host:port=vsockport entries, e.g.
#   "kms.eu-west-1.amazonaws.com:443=8000 db.internal.example:5432=8001"
# Each needs a matching `vsock-proxy <vsockport> <host> <port>` on the parent.
EGRESS="${KEYHOLD_EGRESS:-}"
TLS_DIR=/run/keyhold/tls
TLS_SAN="${KEYHOLD_TLS_SAN:-DNS:localhost,IP:127.0.0.1}"

# Loopback is the only interface; make sure it is up (harmless if it already is).
ip link set dev lo up 2>/dev/null || ip addr add 127.0.0.1/8 dev lo 2>/dev/null || true

# TLS key and self-signed certificate, in memory only (the enclave has no disk).
mkdir -p "$TLS_DIR"
chmod 700 "$TLS_DIR"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 397 \
  -subj "/CN=keyhold-enclave" -addext "subjectAltName=${TLS_SAN}" \
  -keyout "$TLS_DIR/server.key" -out "$TLS_DIR/server.crt"
chmod 600 "$TLS_DIR/server.key"
log "TLS certificate SHA-256 (DER): $(openssl x509 -in "$TLS_DIR/server.crt" -outform DER | openssl dgst -sha256 -r | cut -d' ' -f1)"

# Inbound: the parent connects to this enclave's CID on these vsock ports.
socat "VSOCK-LISTEN:${API_PORT},fork,reuseaddr" "TCP:127.0.0.1:${API_PORT}" &
socat "VSOCK-LISTEN:${HEALTH_PORT},fork,reuseaddr" "TCP:127.0.0.1:${HEALTH_PORT}" &

# Outbound: each host resolves to 127.0.0.1 here, so TLS to it still checks the
# real host name end to end; the parent's vsock-proxy only sees ciphertext.
for entry in $EGRESS; do
  hostport="${entry%%=*}"
  vport="${entry##*=}"
  host="${hostport%:*}"
  port="${hostport##*:}"
  case "$host" in
    *[!0-9.]*) printf '127.0.0.1 %s\n' "$host" >> /etc/hosts ;;
  esac
  socat "TCP-LISTEN:${port},bind=127.0.0.1,fork,reuseaddr" "VSOCK-CONNECT:${PARENT_CID}:${vport}" &
  log "egress ${host}:${port} -> vsock ${PARENT_CID}:${vport}"
done

mkdir -p /var/lib/keyhold /var/log/keyhold
exec node /opt/keyhold/dist/cli/main.js server --config /etc/keyhold/keyhold.yaml
