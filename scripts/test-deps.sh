#!/usr/bin/env bash
# System packages the tests use (a real browser for the UI test, a PostgreSQL server for the
# production-instance test, a Redis server as the Celery broker of the celery-executor test).
# Installed only when missing.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
if ((${#need[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "test-deps: missing ${need[*]}; install them with apt-get (needs root)" >&2
    exit 1
  fi
  echo "test-deps: installing ${need[*]} from Debian"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
