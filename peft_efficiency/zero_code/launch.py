"""What `peft-efficiency run` says when the command cannot be started: one line, and the status a POSIX shell gives
(127: not found; 126: found but not executable, a folder, or a file the system cannot execute).

Example:
    start_failure("./train.py", OSError(errno.ENOEXEC, "Exec format error"))   # (126, "cannot execute ./train.py: ...")
"""

from __future__ import annotations

import errno
import os

NOT_FOUND, CANNOT_EXECUTE = 127, 126


def _is_binary(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            return b"\0" in handle.read(4096)
    except OSError:
        return False


def start_failure(command: str, error: OSError) -> tuple[int, str]:
    """(exit status, message) for `error`, raised by exec'ing `command` (its first word)."""
    if error.errno == errno.ENOENT:
        if os.sep not in command:
            return NOT_FOUND, f"command not found: {command} (not on PATH; give its path or install it)"
        return NOT_FOUND, f"{command}: no such file; check the path"
    if os.path.isdir(command):
        return CANNOT_EXECUTE, f"cannot execute {command}: it is a folder; give the program or script inside it"
    if error.errno == errno.EACCES:
        return CANNOT_EXECUTE, (f"cannot execute {command}: permission denied (not executable); make it executable "
                                f"(chmod +x {command}) or run it through its interpreter, e.g. -- python {command}")
    if error.errno == errno.ENOEXEC:
        if _is_binary(command):
            return CANNOT_EXECUTE, (f"cannot execute {command}: Exec format error (a binary built for another "
                                    "system); use a build for this machine")
        return CANNOT_EXECUTE, (f"cannot execute {command}: Exec format error (a script without a #! first line); "
                                f"add one such as #!/usr/bin/env python, or run it through its interpreter, "
                                f"e.g. -- python {command}")
    return CANNOT_EXECUTE, f"cannot execute {command}: {error.strerror or error}"
