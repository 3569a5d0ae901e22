"""What the start-up hook (`peft_efficiency_startup.pth`) costs every Python process of the environment.

Starts `python -c pass` with the hook on and off (PEFT_EFFICIENCY_STARTUP=0: the .pth line then imports nothing),
interleaved so that both see the same machine load, and prints the start times side by side; then the hook's own
import time from `-X importtime`, and the modules the hook adds to a process: at start-up, after `import transformers`,
after `from transformers import Trainer`, after `import lm_eval.tasks`.

    python bench/startup_hook.py              # 40 pairs
    python bench/startup_hook.py --rounds 100
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

OFF = {"PEFT_EFFICIENCY_STARTUP": "0"}
PROBES = {
    "start-up (python -c pass)": "",
    "import transformers": "import transformers",
    "from transformers import Trainer": "from transformers import Trainer",
    "import lm_eval.tasks": "import lm_eval.tasks",
}


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PEFT_EFFICIENCY_STARTUP"}
    return {**env, **(extra or {})}


def start_seconds(extra: dict[str, str] | None) -> float:
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], env=_env(extra), check=True)
    return time.perf_counter() - began


def hook_import_microseconds() -> int | None:
    """Cumulative `-X importtime` of peft_efficiency_startup (the hook's whole start-up work is its import + install)."""
    err = subprocess.run([sys.executable, "-X", "importtime", "-c", "pass"], env=_env(), capture_output=True,
                         text=True, check=True).stderr
    match = re.search(r"import time:\s+\d+ \|\s+(\d+) \|\s+peft_efficiency_startup\b", err)
    return int(match.group(1)) if match else None


def bytecode_note() -> str:
    """Whether the hook module loads from a .pyc: without one (PYTHONDONTWRITEBYTECODE=1 and an editable checkout)
    it is compiled from source at every start, which is most of its cost."""
    probe = ("import importlib.util, os, peft_efficiency_startup as m; "
             "print(os.path.exists(importlib.util.cache_from_source(m.__file__)))")
    out = subprocess.run([sys.executable, "-c", probe], env=_env(), capture_output=True, text=True)
    cached = out.stdout.strip() == "True"
    return "loaded from its .pyc" if cached else "no .pyc: compiled from source at each start"


def modules_after(code: str, extra: dict[str, str] | None) -> set[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], env=_env(extra), capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40, help="interleaved pairs of interpreter starts")
    args = parser.parse_args(argv)

    for extra in (None, OFF):  # warm the file cache for both
        start_seconds(extra)
    on, off = [], []
    for _ in range(args.rounds):
        on.append(start_seconds(None))
        off.append(start_seconds(OFF))
    print(f"interpreter start ({sys.executable} -c pass), {args.rounds} interleaved pairs, milliseconds")
    print(f"{'':>8} {'hook on':>9} {'hook off':>9} {'on - off':>9}")
    for name, pick in (("median", statistics.median), ("mean", statistics.fmean), ("min", min)):
        a, b = pick(on) * 1e3, pick(off) * 1e3
        print(f"{name:>8} {a:9.2f} {b:9.2f} {a - b:9.2f}")
    paired = statistics.median(x - y for x, y in zip(on, off)) * 1e3
    print(f"median of the paired differences: {paired:.2f} ms")

    samples = [hook_import_microseconds() for _ in range(9)]
    found = [s for s in samples if s is not None]
    if found:
        print(f"-X importtime, peft_efficiency_startup (import + install): median {statistics.median(found) / 1e3:.3f} ms "
              f"over {len(found)} starts ({bytecode_note()})")
    else:
        print("-X importtime: peft_efficiency_startup was not imported (is the .pth installed in this environment?)")

    print("\nmodules the hook adds to a process (hook on minus hook off):")
    for label, code in PROBES.items():
        try:
            added = modules_after(code, None) - modules_after(code, OFF)
        except subprocess.CalledProcessError:
            print(f"  {label:<34} (not importable here)")
            continue
        print(f"  {label:<34} {', '.join(sorted(added)) or '(none)'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
