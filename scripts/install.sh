#!/usr/bin/env bash
# Install edoc-exchange into ./.venv on a fresh Debian machine.
#   scripts/install.sh         the product (enough for `edoc demo`): Liberation fonts, [pdf]
#   scripts/install.sh --dev   also what the tests need: SoftHSM2, xmlsec1, PostgreSQL 15
#                              server binaries, Chromium, poppler-utils (Debian packages) and the
#                              dev/pkcs11/postgres extras
# Debian packages are installed with apt-get when running as root; otherwise it says which
# are missing. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[[ "${1:-}" == "--dev" ]] && dev=1

apt_packages=()
# Liberation Serif: metric-compatible with Times New Roman (Nghị định 30/2020), every
# Vietnamese glyph; the PDFs of plans and reports embed it.
ls /usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf >/dev/null 2>&1 \
    || ls /usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf >/dev/null 2>&1 \
    || apt_packages+=(fonts-liberation2)
if [[ $dev -eq 1 ]]; then
    command -v softhsm2-util >/dev/null 2>&1 || apt_packages+=(softhsm2)
    # An independent XML-DSig verifier: the tests check that what we sign verifies there too.
    command -v xmlsec1 >/dev/null 2>&1 || apt_packages+=(xmlsec1)
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_packages+=(postgresql)
    # The browser tests drive Debian's Chromium with Playwright (its own download cannot
    # work on these machines).
    [[ -x /usr/bin/chromium ]] || apt_packages+=(chromium)
    # pdftoppm: the tests look at rendered PDFs (signature and seal images) as pictures.
    command -v pdftoppm >/dev/null 2>&1 || apt_packages+=(poppler-utils)
fi
if [[ ${#apt_packages[@]} -gt 0 ]]; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        echo "==> apt-get install ${apt_packages[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${apt_packages[@]}" >/dev/null
    else
        echo "Missing Debian packages (install them as root): ${apt_packages[*]}" >&2
        exit 1
    fi
fi

python=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
    echo "==> creating .venv"
    "$python" -m venv .venv
fi
extras="[pdf]"
[[ $dev -eq 1 ]] && extras="[pdf,dev,pkcs11,postgres]"
echo "==> pip install -e .${extras}"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".${extras}"
echo "==> installed: $(.venv/bin/edoc --help >/dev/null && echo .venv/bin/edoc)"
