#!/usr/bin/env bash
# Installs what the browser tests (tests/tests/workbench.rs) drive: Debian's
# chromium and the chromedriver built from the same source, so the two
# versions always match, plus fonts-noto-cjk so Chinese unit names render
# as text and not as empty boxes. Nothing that downloads its own browser:
# the browser comes from the same signed archive as the rest of the
# machine. Idempotent; needs root (CI runs as root) only when something is
# missing. Logs go to stderr.
set -euo pipefail
packages=(chromium chromium-driver fonts-noto-cjk)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ "${#missing[@]}" -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "missing ${missing[*]} and not root: apt-get install ${missing[*]}" >&2; exit 1
fi
echo "installing Debian's ${missing[*]} (for the browser tests)" >&2
# The package lists are refreshed only now that something is missing: a
# machine that has everything runs no network step. Recommends are left
# out: the tests need the browser, its driver and the fonts, not a desktop.
apt-get update -q >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
