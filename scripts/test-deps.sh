#!/usr/bin/env bash
# Installs the system components the test suite needs, when missing.
# Today: openssl (used by the TLS end-to-end tests to inspect certificates) and
# softhsm2 (a software PKCS#11 token for the HSM client and pkcs11 seal tests:
# softhsm2-util and /usr/lib/softhsm/libsofthsm2.so).
# Under CI=true a component that cannot be installed is a failure, never a skip.
set -euo pipefail

need=()
command -v openssl >/dev/null 2>&1 || need+=(openssl)
{ command -v softhsm2-util >/dev/null 2>&1 && [ -e /usr/lib/softhsm/libsofthsm2.so ]; } || need+=(softhsm2)

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
