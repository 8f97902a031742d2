#!/usr/bin/env bash
# `npm run test:unit`: the tests that need no Dovecot and no PostgreSQL, for a quick loop while
# working. A test file needs one when it starts one (useDovecot/startDovecot, usePostgres/
# startPostgres, test/helpers): every other test file is run here. Installs nothing; builds
# first, as some of these run the built CLI.
# Should one of them start a Dovecot after all (through a helper), startDovecot refuses.
set -euo pipefail
cd "$(dirname "$0")/.."

mapfile -t all < <(find test -name '*.test.ts' | sort)
mapfile -t files < <(grep -L -E '\b(useDovecot|startDovecot|usePostgres|startPostgres)\(' "${all[@]}")
npm run --silent build
export TEST_WITHOUT_DOVECOT=1
exec node --import tsx --test --test-concurrency=2 "$@" "${files[@]}"
