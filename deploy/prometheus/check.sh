#!/usr/bin/env bash
# Checks the alert rules and runs their unit tests; exits non-zero if either fails. promtool comes
# with Prometheus (Debian: `apt-get install prometheus`).
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v promtool >/dev/null 2>&1; then
  echo "promtool is not installed: install Prometheus (Debian: apt-get install prometheus)" >&2
  exit 1
fi
promtool check rules alerts.yml
promtool test rules alerts.test.yml
