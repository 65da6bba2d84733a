#!/bin/sh
# Installs the Debian packages encdec needs, only those missing. Run as root
# (the Makefile calls it); prints what it would do otherwise.
set -e
PKGS="build-essential cmake pkg-config libpng-dev libjpeg62-turbo-dev libcjson-dev libdnnl-dev python3 python3-numpy"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "encdec: missing Debian packages:$missing" >&2
    echo "encdec: run as root, or: sudo apt-get install$missing" >&2
    exit 1
fi
echo "encdec: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing
