#!/usr/bin/env bash
# Installs the system packages the test suite needs (a real PostgreSQL server; Chromium for the
# dashboard's browser tests, driven by Playwright), when missing.
# Idempotent and quick when everything is present. Needs root (as on CI) to install.
set -euo pipefail

missing=()
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  missing+=(postgresql postgresql-contrib)
fi
if [ ! -x /usr/bin/chromium ]; then
  missing+=(chromium)
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "The tests need these system packages: ${missing[*]}; install them (as root: apt-get install ${missing[*]})." >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
