"""Start-up code of every Python process under `peft-efficiency run` (this folder is first on PYTHONPATH).

It installs the start-up hook (a no-op where `peft_efficiency_startup.pth` already did), then runs the
sitecustomize it hides, if there is one further along the path, so the environment's own start-up code still runs.
It imports nothing but `os` and `sys`, which are loaded already.
"""

import os
import sys


def _install_hook() -> None:
    try:
        import peft_efficiency_startup
    except ImportError:
        sys.stderr.write(f"peft-efficiency run: {sys.executable} cannot import peft-efficiency (not installed for this "
                         "Python), so nothing is attached in this process\n")
        return
    peft_efficiency_startup.install()


def _run_hidden_sitecustomize() -> None:
    """Import the next `sitecustomize` on sys.path as `sitecustomize`, with this folder taken off sys.path."""
    here = os.path.dirname(os.path.abspath(__file__))
    this_module = sys.modules.pop(__name__)
    sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or os.curdir) != here]
    try:
        import sitecustomize  # noqa: F401  (the hidden one, executed under its own name)
    except ImportError as error:
        if error.name != "sitecustomize":
            raise
        sys.modules[__name__] = this_module  # there is none: this module stays the sitecustomize


if __name__ == "sitecustomize":
    _install_hook()
    _run_hidden_sitecustomize()
