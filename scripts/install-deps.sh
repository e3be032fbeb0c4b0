#!/usr/bin/env bash
# Installs every Debian package sqlraft needs to build, test and benchmark. Idempotent: packages
# already present are not touched, and nothing is done when all are present.
# Why each library: see docs/architecture.md ("Libraries").
set -euo pipefail

PKGS=(
  build-essential cmake ninja-build pkg-config ccache git
  libsqlite3-dev sqlite3
  libboost1.81-dev libboost-json1.81-dev   # Asio, Beast, Boost.JSON
  libcapnp-dev capnproto                    # wire format for Raft messages and log entries
  librapidcheck-dev libgtest-dev libgmock-dev
  libisal-dev                               # CRC32C in hardware (Intel ISA-L)
  libcli11-dev zlib1g-dev libbenchmark-dev
  curl procps psmisc python3
  nftables faketime libfaketime              # rqjepsen: partitions, clock faults
  clang libclang-rt-14-dev                  # make fuzz: libFuzzer, ASan, UBSan (clang 14's)
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# libboost1.81-dev conflicts with the unversioned libboost-dev (1.74); apt removes the latter.
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
