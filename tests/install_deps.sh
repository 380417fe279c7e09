#!/bin/sh
# Install the Debian packages named in $PKGS that are missing: apt-get as root, sudo otherwise.
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing Debian packages:$missing"
if [ "$(id -u)" = 0 ]; then SUDO=""
elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"
else
  echo "error: missing packages:$missing; run as root or install sudo (apt-get install$missing)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null || { echo "error: apt-get update failed" >&2; exit 1; }
# wait for another apt/dpkg run (up to 10 min) instead of failing on its lock
$SUDO apt-get install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends $missing >/dev/null || {
  echo "error: apt-get install$missing failed" >&2; exit 1; }
