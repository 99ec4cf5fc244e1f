#!/usr/bin/env bash
# System packages the server and its tests need, installed only where missing (Debian).
set -euo pipefail
need=()
command -v memcached >/dev/null 2>&1 || need+=(memcached)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)  # a host app's cache, in tests
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v npm >/dev/null 2>&1 || need+=(npm)
command -v wrk >/dev/null 2>&1 || need+=(wrk)  # the benchmark's load generator
# wsidicomizer's JPEG codec: the tests and the benchmark write DICOM series with it
dpkg -s libturbojpeg0 >/dev/null 2>&1 || need+=(libturbojpeg0)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
