#!/usr/bin/env bash
# Installs Debian's headless Chromium for the HTML report test, when it is missing and we may install it.
set -u
command -v chromium >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "install-chromium: apt-get could not install chromium; the HTML screenshot test will be skipped" >&2
else
  echo "install-chromium: chromium is missing and apt-get is not usable here; the HTML screenshot test will be skipped" >&2
fi
exit 0
