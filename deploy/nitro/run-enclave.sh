#!/usr/bin/env bash
# Build, run and connect the Keyhold enclave on an EC2 parent instance with
# Nitro Enclaves enabled (nitro-cli, docker, socat and jq installed; see
# README.md). Run from the repository root:
#
#   deploy/nitro/run-enclave.sh build     docker image + keyhold.eif, prints PCR0/1/2
#   deploy/nitro/run-enclave.sh run       start the enclave (production mode)
#   deploy/nitro/run-enclave.sh relay     parent TCP 8080/8081 -> enclave vsock (foreground)
#   deploy/nitro/run-enclave.sh egress    vsock-proxy for each EGRESS entry (foreground)
#   deploy/nitro/run-enclave.sh status    nitro-cli describe-enclaves
#   deploy/nitro/run-enclave.sh stop      terminate the enclave
#
# Settings (environment):
#   IMAGE        docker image tag            (keyhold-enclave:latest)
#   EIF          enclave image file          (keyhold.eif)
#   ENCLAVE_NAME name for nitro-cli          (keyhold)
#   ENCLAVE_CID  vsock CID of the enclave    (16; any value >= 4 not in use)
#   CPU_COUNT    vCPUs for the enclave       (2)
#   MEMORY_MIB   memory for the enclave      (4096; the whole image is loaded into it)
#   API_BIND     parent address for 8080     (0.0.0.0: clients reach the vault here; TLS ends inside the enclave)
#   HEALTH_BIND  parent address for 8081     (127.0.0.1: plain HTTP health and metrics stay local)
#   EGRESS       "host:port=vsockport ..."   (e.g. "kms.eu-west-1.amazonaws.com:443=8000"); the same
#                string as KEYHOLD_EGRESS in the image; each host:port must be allowed in
#                /etc/nitro_enclaves/vsock-proxy.yaml
set -euo pipefail

IMAGE="${IMAGE:-keyhold-enclave:latest}"
EIF="${EIF:-keyhold.eif}"
ENCLAVE_NAME="${ENCLAVE_NAME:-keyhold}"
ENCLAVE_CID="${ENCLAVE_CID:-16}"
CPU_COUNT="${CPU_COUNT:-2}"
MEMORY_MIB="${MEMORY_MIB:-4096}"
API_BIND="${API_BIND:-0.0.0.0}"
HEALTH_BIND="${HEALTH_BIND:-127.0.0.1}"
EGRESS="${EGRESS:-}"

die() { printf 'run-enclave: %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is not installed"; }

cmd_build() {
  need docker
  need nitro-cli
  [ -f deploy/nitro/Dockerfile ] || die "run from the repository root"
  docker build -f deploy/nitro/Dockerfile -t "$IMAGE" .
  # build-enclave prints a status line, then JSON with Measurements.PCR0/1/2 (SHA-384, hex).
  nitro-cli build-enclave --docker-uri "$IMAGE" --output-file "$EIF" | tee "${EIF}.build.txt"
  if command -v jq >/dev/null 2>&1; then
    sed -n '/^{/,$p' "${EIF}.build.txt" | jq '.Measurements' | tee "${EIF}.measurements.json"
    printf '\nVerify a running enclave with:\n  keyhold attest verify --expect-pcr 0=%s\n' \
      "$(jq -r '.Measurements.PCR0' "${EIF}.measurements.json")"
  fi
}

cmd_run() {
  need nitro-cli
  [ -f "$EIF" ] || die "$EIF not found; run 'build' first"
  # No --debug-mode: a debug-mode enclave reports all-zero PCRs in its
  # attestation documents, which no verifier expecting real PCRs accepts.
  nitro-cli run-enclave --enclave-name "$ENCLAVE_NAME" --eif-path "$EIF" \
    --cpu-count "$CPU_COUNT" --memory "$MEMORY_MIB" --enclave-cid "$ENCLAVE_CID"
}

cmd_relay() {
  need socat
  printf 'relaying %s:8080 and %s:8081 to vsock %s (Ctrl-C stops)\n' "$API_BIND" "$HEALTH_BIND" "$ENCLAVE_CID"
  socat "TCP-LISTEN:8080,bind=${API_BIND},fork,reuseaddr" "VSOCK-CONNECT:${ENCLAVE_CID}:8080" &
  socat "TCP-LISTEN:8081,bind=${HEALTH_BIND},fork,reuseaddr" "VSOCK-CONNECT:${ENCLAVE_CID}:8081" &
  trap 'kill $(jobs -p) 2>/dev/null || true' EXIT INT TERM
  wait
}

cmd_egress() {
  need vsock-proxy
  [ -n "$EGRESS" ] || die 'EGRESS is empty (e.g. EGRESS="kms.eu-west-1.amazonaws.com:443=8000")'
  for entry in $EGRESS; do
    hostport="${entry%%=*}"
    vport="${entry##*=}"
    host="${hostport%:*}"
    port="${hostport##*:}"
    [ "$hostport" != "$entry" ] && [ -n "$vport" ] && [ -n "$host" ] && [ "$host" != "$hostport" ] || die "bad EGRESS entry: $entry"
    printf 'vsock-proxy %s -> %s:%s\n' "$vport" "$host" "$port"
    # vsock-proxy refuses destinations missing from its allowlist (/etc/nitro_enclaves/vsock-proxy.yaml).
    vsock-proxy "$vport" "$host" "$port" &
  done
  trap 'kill $(jobs -p) 2>/dev/null || true' EXIT INT TERM
  wait
}

cmd_status() { need nitro-cli; nitro-cli describe-enclaves; }

cmd_stop() {
  need nitro-cli
  nitro-cli terminate-enclave --enclave-name "$ENCLAVE_NAME"
}

case "${1:-}" in
  build) cmd_build ;;
  run) cmd_run ;;
  relay) cmd_relay ;;
  egress) cmd_egress ;;
  status) cmd_status ;;
  stop) cmd_stop ;;
  *) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 2 ;;
esac
