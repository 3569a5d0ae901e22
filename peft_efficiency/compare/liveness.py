"""Is a `running` report's run still alive? `stale` when its last write is older than its writer promised, `lost`
when it was written on this host by a process that is gone.

Every report write carries `run.updated_at`, `run.host`, `run.pid` and `run.pid_create_time` (the process's start,
so a pid the system has given to another process since is not taken for the run), and the writer's promise
`run.write_interval_seconds`. A running report is judged:

- `lost`: written on this host, and no process with that pid (and start time) exists: the run was killed
  without a word (SIGKILL, the out-of-memory killer, a node going down);
- `stale`: its last write is older than `STALE_AFTER_INTERVALS` write intervals plus `CLOCK_SLACK_SECONDS` (clocks
  of two machines, a slow shared file system): the run is hung, or was killed on another host;
- else `running`. A report without these fields (schema version 1 or 2) stays `running`.

Example:
    judge({"status": "running", "host": "node1", "pid": 4242, "updated_at": "2026-12-06T10:00:00+00:00",
           "write_interval_seconds": 30})   # Liveness("stale", "last written ... ago; ...")
"""

from __future__ import annotations

import datetime as dt
import socket
from dataclasses import dataclass
from typing import Any

STALE_AFTER_INTERVALS = 2
CLOCK_SLACK_SECONDS = 60.0


@dataclass(frozen=True)
class Liveness:
    """The status a comparison shows, and why (None when the report's own status stands)."""

    status: str | None
    reason: str | None = None


def parse_time(text: Any) -> dt.datetime | None:
    """An ISO 8601 time stamp (UTC when it names no zone), or None when it is not one."""
    if not isinstance(text, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def process_alive(pid: int, create_time: float | None) -> bool:
    """True when process `pid` exists on this host (and, when `create_time` is known, started at that time)."""
    import psutil

    try:
        started = psutil.Process(pid).create_time()
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:  # exists, but cannot be inspected (another user's): alive
        return True
    return create_time is None or abs(started - create_time) < 1.0


def format_age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h" if seconds < 172800 else f"{seconds / 86400:.0f} days"


def judge(run: dict[str, Any], now: dt.datetime | None = None, host: str | None = None) -> Liveness:
    """The status to show for the report's `run` section (see the module docstring)."""
    status = run.get("status")
    if status != "running":
        return Liveness(status if isinstance(status, str) else None)
    host = socket.gethostname() if host is None else host
    pid, step = run.get("pid"), run.get("global_step")
    at_step = f" at step {step}" if isinstance(step, int) and not isinstance(step, bool) else ""
    updated = parse_time(run.get("updated_at"))
    when = f"last written {run.get('updated_at')}" if updated else "no time of its last write"
    create_time = run.get("pid_create_time")
    create_time = create_time if isinstance(create_time, (int, float)) and not isinstance(create_time, bool) else None
    if run.get("host") == host and isinstance(pid, int) and not isinstance(pid, bool) and pid > 0 \
            and not process_alive(pid, create_time):
        return Liveness("lost", f"its process (pid {pid} on {host}) is gone without ending the report ({when}{at_step}); "
                                "it was killed (SIGKILL, out of memory) or its machine stopped: figures cover part of the run")
    interval = run.get("write_interval_seconds")
    if updated is None or not isinstance(interval, (int, float)) or isinstance(interval, bool) or interval <= 0:
        return Liveness("running")
    age = ((now or dt.datetime.now(dt.timezone.utc)) - updated).total_seconds()
    if age > STALE_AFTER_INTERVALS * interval + CLOCK_SLACK_SECONDS:
        where = f" on {run.get('host')}" if run.get("host") else ""
        return Liveness("stale", f"{when}{at_step}, {format_age(age)} ago, though its writer{where} promised a write "
                                 f"every {interval:g} s: the run is hung or was killed")
    return Liveness("running")
