#!/usr/bin/env bash
# Install the browser the admin's real-browser tests drive (tests/test_admin_browser.py):
# Debian's chromium and chromium-driver, from the distribution's own packages, plus a CJK font
# (fonts-wqy-zenhei) so the Chinese names in the saved screenshots are text, not empty boxes.
#
# Idempotent: does nothing when chromium, chromedriver and the font are all present.
# Fails loudly (non-zero exit, message on stderr) when it cannot install them.
# Needs root (or sudo) and apt-get; CI runs it before `WDH_BROWSER_TESTS=required pytest`.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
DRIVER=/usr/bin/chromedriver
CJK_FONT=/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc

if [[ -x "$CHROMIUM" && -x "$DRIVER" && -f "$CJK_FONT" ]]; then
    echo "install_browser: chromium, chromedriver and a CJK font are already installed" >&2
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_browser: apt-get not found; install Debian's chromium and chromium-driver by hand" >&2
    exit 1
fi

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "install_browser: must run as root (or with sudo available) to apt-get install" >&2
        exit 1
    fi
    SUDO=(sudo)
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update
"${SUDO[@]}" apt-get install -y chromium chromium-driver fonts-wqy-zenhei

for binary in "$CHROMIUM" "$DRIVER"; do
    if [[ ! -x "$binary" ]]; then
        echo "install_browser: $binary is still missing after apt-get install" >&2
        exit 1
    fi
done
"$CHROMIUM" --version >&2
"$DRIVER" --version >&2
