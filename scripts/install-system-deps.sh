#!/usr/bin/env bash
# Install the Debian packages the worker and the test suite need outside Python:
# Tesseract with its Portuguese data (document OCR), Chromium (admin console tests)
# and a font with Latin accents (test documents are rendered with it).
# Packages already present are skipped, so a second run does no network work.
set -euo pipefail

packages=(tesseract-ocr tesseract-ocr-por chromium fonts-dejavu-core)

missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query --show --showformat='${db:Status-Status}' "$package" 2>/dev/null \
        | grep --quiet '^installed$'; then
        missing+=("$package")
    fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "install-system-deps: all present (${packages[*]})"
    exit 0
fi

echo "install-system-deps: installing ${missing[*]}"
if [[ $(id -u) -eq 0 ]]; then
    sudo_cmd=()
else
    sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
