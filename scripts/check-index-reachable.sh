#!/usr/bin/env bash
# Fails with one clear line when the package index pip would use cannot be reached (the canary and the floors check
# install releases that are not in the lock, so they need it). Usage: check-index-reachable.sh [PYTHON] [TARGET]
# The index is pip's own setting (PIP_INDEX_URL, pip config, else pip's default): no host name is written here.
set -u
python_bin="${1:-python3}"
export CHECK_INDEX_TARGET="${2:-test-latest}"
"$python_bin" - <<'PY'
import os
import subprocess
import sys
import urllib.request

target = os.environ["CHECK_INDEX_TARGET"]
what = {"test-floors": "The floors check installs the lowest releases pyproject.toml allows"}.get(
    target, "The canary installs the newest releases")
url = os.environ.get("PIP_INDEX_URL", "")
if not url:
    configured = subprocess.run([sys.executable, "-m", "pip", "config", "get", "global.index-url"],
                                capture_output=True, text=True)
    url = configured.stdout.strip() if configured.returncode == 0 else ""
if not url:
    from pip._internal.models.index import PyPI

    url = PyPI.simple_url
probe = url.rstrip("/") + "/pip/"
try:
    with urllib.request.urlopen(probe, timeout=15) as response:
        response.read(1)
except Exception as error:  # noqa: BLE001 - any failure means the same thing here
    reason = getattr(error, "reason", None) or error
    print(f"make {target}: the package index {url} cannot be reached ({reason}). {what}, so it needs network "
          "access to the index; `make test` (the lock) is the offline-safe check.", file=sys.stderr)
    raise SystemExit(1)
PY
