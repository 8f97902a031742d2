#!/usr/bin/env bash
# The one test command (README: `npm test`). On a fresh Debian/Ubuntu machine it installs
# what the suite needs (npm dependencies, Dovecot with its LMTP service, aiosmtpd, openssl,
# PostgreSQL 13 or newer), then type-checks, builds and runs every test. Dovecot or PostgreSQL
# missing is never a silent skip: it is installed, or this stops with the exact command to run.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "test: installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund
fi

missing=()
[ -x /usr/sbin/dovecot ] || missing+=(dovecot-core)
[ -x /usr/lib/dovecot/imap ] || missing+=(dovecot-imapd)
[ -x /usr/lib/dovecot/pop3 ] || missing+=(dovecot-pop3d)
# Built-in delivery: LMTP into Dovecot's own service, SMTP to an aiosmtpd the tests start.
[ -x /usr/lib/dovecot/lmtp ] || missing+=(dovecot-lmtpd)
/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || missing+=(python3-aiosmtpd)
command -v openssl >/dev/null || missing+=(openssl)
# The PostgreSQL store's tests start a private cluster with the server binaries (13 or newer).
postgres_found=
for initdb in /usr/lib/postgresql/*/bin/initdb; do
  version=$(basename "$(dirname "$(dirname "$initdb")")")
  if [ -x "$initdb" ] && [ "$version" -ge 13 ] 2>/dev/null; then postgres_found=1; fi
done
[ -n "$postgres_found" ] || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  install="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
  if [ "$(id -u)" = 0 ]; then
    echo "test: installing ${missing[*]}"
    sh -c "$install"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    echo "test: installing ${missing[*]} with sudo"
    sudo sh -c "$install"
  else
    echo "test: the integration tests need a real Dovecot and PostgreSQL (${missing[*]} missing). Run:" >&2
    echo "  sudo sh -c '$install'" >&2
    exit 1
  fi
fi

npm run --silent typecheck
npm run --silent build

mapfile -t files < <(find test -name '*.test.ts' | sort)
# Each test file starts its own private Dovecot or PostgreSQL on free ports, so files can run side by side.
exec node --import tsx --test --test-concurrency=2 --test-timeout=300000 "$@" "${files[@]}"
