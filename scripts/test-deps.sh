#!/usr/bin/env bash
# Installs the system components the test suite needs, when missing.
# Today: openssl (used by the TLS end-to-end tests to inspect certificates),
# softhsm2 (a software PKCS#11 token for the HSM client and pkcs11 seal tests:
# softhsm2-util and /usr/lib/softhsm/libsofthsm2.so), python3-cryptography-vectors
# (NIST CAVP and RFC known answers the crypto vector tests read in place; another
# copy can be named with KEYHOLD_CAVP_VECTORS) and python3-hvac (a real Vault
# client for the transit conformance test).
# Under CI=true a component that cannot be installed is a failure, never a skip.
set -euo pipefail

need=()
command -v openssl >/dev/null 2>&1 || need+=(openssl)
{ command -v softhsm2-util >/dev/null 2>&1 && [ -e /usr/lib/softhsm/libsofthsm2.so ]; } || need+=(softhsm2)
[ -n "${KEYHOLD_CAVP_VECTORS:-}" ] || [ -d /usr/lib/python3/dist-packages/cryptography_vectors ] || need+=(python3-cryptography-vectors)
# Debian's python3-* packages install for the system interpreter, which a pyenv or venv python3 first on PATH does not see.
system_python=/usr/bin/python3
[ -x "$system_python" ] || system_python=python3
"$system_python" -c 'import hvac' >/dev/null 2>&1 || need+=(python3-hvac)

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test-deps: installing ${need[*]}"
    apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "test-deps: missing ${need[*]} and cannot install (need root and apt-get)" >&2
    exit 1
  fi
fi
echo "test-deps: ok"
