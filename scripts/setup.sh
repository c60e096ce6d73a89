#!/usr/bin/env bash
# Idempotent set-up for a fresh machine: system packages, Python venv, npm packages.
# Each step is skipped when what it installs is already there, so `make run` / `make test` stay fast.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
fc-list 2>/dev/null | grep -qi "WenQuanYi Micro Hei" || need_apt+=(fonts-wqy-microhei)
# WeasyPrint (official documents as PDF) needs Pango.
for lib in libpango-1.0-0 libpangoft2-1.0-0; do
  dpkg -s "$lib" >/dev/null 2>&1 || need_apt+=("$lib")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing system packages: ${need_apt[*]}"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  fi
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  python3 -m venv .venv
fi
req_hash=$(sha256sum requirements.txt | cut -c1-16)
if [ ! -f ".venv/.req-$req_hash" ]; then
  echo "setup: installing Python packages"
  .venv/bin/pip install -q -r requirements.txt
  rm -f .venv/.req-* && touch ".venv/.req-$req_hash"
fi

lock_hash=$(sha256sum package-lock.json | cut -c1-16)
if [ ! -f "node_modules/.lock-$lock_hash" ]; then
  echo "setup: installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --silent
  touch "node_modules/.lock-$lock_hash"
fi
