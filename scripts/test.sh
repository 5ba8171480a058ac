#!/usr/bin/env bash
# The whole suite against real services: start Redis and Kafka (only those not
# already running), run lint and every test, then stop what was started, also
# when something failed. Used by `make test` and so by CI.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# Services someone started earlier with `make services` stay up afterwards;
# only a run that found nothing started by us stops what it started.
stop_after=0
[ -s .services/started ] || stop_after=1
cleanup() {
  if [ "$stop_after" = 1 ]; then
    scripts/services.sh down || echo "test: could not stop the services cleanly" >&2
  fi
}
trap cleanup EXIT

if ! scripts/services.sh up; then
  echo "test: the services did not start (see the message above); no test was run" >&2
  exit 1
fi

status=0
make --no-print-directory lint || status=1
.venv/bin/python -m pytest "$@" || status=1
exit "$status"
