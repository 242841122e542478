#!/usr/bin/env bash
# Tools of `make bench` outside Python: wrk (HTTP load), pgbench and psql (PostgreSQL client),
# and py-spy (sampling profiler, for `python -m bench.products_listing --profile`).
# Anything already present is skipped, so a second run does no network work.
set -euo pipefail

packages=(wrk postgresql-client)

missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query --show --showformat='${db:Status-Status}' "$package" 2>/dev/null \
        | grep --quiet '^installed$'; then
        missing+=("$package")
    fi
done

if [[ $(id -u) -eq 0 ]]; then
    sudo_cmd=()
else
    sudo_cmd=(sudo)
fi

if [[ ${#missing[@]} -gt 0 ]]; then
    echo "install-bench-deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${sudo_cmd[@]}" apt-get update -qq
    "${sudo_cmd[@]}" apt-get install -y wrk
    "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends postgresql-client
else
    echo "install-bench-deps: apt packages present (${packages[*]})"
fi

# py-spy is a tool, not a dependency of the service: installed with uv's tool installer.
if ! command -v py-spy >/dev/null; then
    if command -v uv >/dev/null; then
        uv tool install py-spy
    else
        echo "install-bench-deps: uv not found; py-spy skipped (only --profile needs it)"
    fi
fi
