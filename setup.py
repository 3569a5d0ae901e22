"""Package list and the start-up hook's .pth file (everything else is in pyproject.toml).

- The repo's `harness_tasks/` folder ships as `peft_efficiency.harness_tasks`, which setuptools' automatic discovery
  cannot map.
- `peft_efficiency_startup.pth` is written at the root of the install (site-packages), by wheels and by editable
  installs alike, so that every interpreter of the environment calls `peft_efficiency_startup.install()` at start-up
  (see that module: it imports nothing until transformers or lm-eval is imported).
"""

from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

STARTUP_PTH = "peft_efficiency_startup.pth"
# One line, run by `site` at start-up: nothing is imported when PEFT_EFFICIENCY_STARTUP=0, and a removed package
# (a stale .pth left behind) is skipped in silence.
STARTUP_PTH_LINE = (
    "import os; exec(\"if os.environ.get('PEFT_EFFICIENCY_STARTUP') != '0':\\n try:\\n  import peft_efficiency_startup"
    "\\n except ImportError:\\n  pass\\n else:\\n  peft_efficiency_startup.install()\")\n"
)


class BuildPyWithStartupHook(build_py):
    """`build_py` that also writes the start-up .pth at the root of the install.

    A wheel is made from `build_lib`, so the file goes there. An editable install (PEP 660) packs
    setuptools' unpacked editable wheel instead, which it passes to the build as the `install` command's
    `install_lib`; the file goes there, beside setuptools' own `__editable__` .pth.
    """

    def run(self) -> None:
        super().run()
        root = self.get_finalized_command("install").install_lib if self.editable_mode else self.build_lib
        self.mkpath(root)
        Path(root, STARTUP_PTH).write_text(STARTUP_PTH_LINE, encoding="utf-8")

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode)
        return outputs if self.editable_mode else [*outputs, str(Path(self.build_lib, STARTUP_PTH))]


# Each task folder (YAML, utils.py, README) is a package too, so setuptools ships it without warning about data
# folders that look importable.
TASKS_FOLDER = Path(__file__).parent / "harness_tasks"
TASK_PACKAGES = sorted(f"peft_efficiency.harness_tasks.{folder.name}" for folder in TASKS_FOLDER.iterdir()
                       if folder.is_dir() and not folder.name.startswith(("_", ".")))

setup(
    packages=find_packages(include=["peft_efficiency", "peft_efficiency.*"]) + ["peft_efficiency.harness_tasks", *TASK_PACKAGES],
    py_modules=["peft_efficiency_startup"],
    cmdclass={"build_py": BuildPyWithStartupHook},
)
