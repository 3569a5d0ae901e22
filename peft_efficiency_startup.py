"""The interpreter start-up hook of peft-efficiency. It runs in every Python process of the environment, so it
imports nothing (`os` and `sys` are loaded before any .pth file is read) and does nothing until a watched module
is imported.

`peft_efficiency_startup.pth` (written into site-packages by setup.py, for wheel and editable installs alike) calls
`install()` when the interpreter starts; `peft-efficiency run` calls it too, from a sitecustomize it puts on
PYTHONPATH (for environments that do not read .pth files). `install()` puts one finder first on `sys.meta_path`.
That finder finds nothing itself: when a module named in `POST_IMPORT` is imported, it lets the finder that owns
the module load it, then calls the peft_efficiency function named for it with the module, which is the first time
anything of peft_efficiency is imported:

- transformers' integrations: `report_to="peft_efficiency"` becomes a known reporting integration;
- transformers' Trainer: one EfficiencyCallback per Trainer when PEFT_EFFICIENCY_ATTACH=1 (`peft-efficiency run`);
- lm-eval's tasks: the bundled tasks on every TaskManager's include path (unless lm-eval loads them itself).

PEFT_EFFICIENCY_STARTUP=0 turns the hook off (the .pth line then does not even import this module).
"""

import os
import sys

# watched module -> "module:function" called with it right after it has executed
POST_IMPORT = {
    "transformers.integrations.integration_utils": "peft_efficiency.zero_code.transformers_hook:register_report_to",
    "transformers.trainer": "peft_efficiency.zero_code.transformers_hook:patch_trainer",
    "lm_eval.tasks": "peft_efficiency.zero_code.lm_eval_hook:patch_task_manager",
}
OFF_VARIABLE = "PEFT_EFFICIENCY_STARTUP"

_installed = False


def install() -> None:
    """Put the post-import finder first on `sys.meta_path` (once per process; a no-op when turned off)."""
    global _installed
    if _installed or os.environ.get(OFF_VARIABLE) == "0":
        return
    _installed = True
    sys.meta_path.insert(0, PostImportFinder())
    for name, target in POST_IMPORT.items():  # imported before the hook was installed (a late install)
        if name in sys.modules:
            _run_hook(target, sys.modules[name])


def installed() -> bool:
    """True when `install()` has put the finder in place in this process."""
    return _installed


class PostImportFinder:
    """A `sys.meta_path` finder that finds nothing itself: for a watched name it asks the other finders and wraps
    the loader they return, so that the hook runs once the module has executed."""

    def __init__(self):
        self._finding = set()  # names being looked up: another finder that asks the whole meta path gets None here

    def find_spec(self, fullname, path=None, target=None):
        hook = POST_IMPORT.get(fullname)
        if hook is None or fullname in self._finding:
            return None
        self._finding.add(fullname)
        try:
            spec = self._find_elsewhere(fullname, path, target)
        finally:
            self._finding.discard(fullname)
        if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _HookedLoader(spec.loader, hook)
        return spec

    def _find_elsewhere(self, fullname, path, target):
        for finder in sys.meta_path:
            find_spec = getattr(finder, "find_spec", None)
            if finder is not self and find_spec is not None:
                spec = find_spec(fullname, path, target)
                if spec is not None:
                    return spec
        return None


class _HookedLoader:
    """The real loader, plus the hook after `exec_module`. The module itself keeps the real loader."""

    def __init__(self, loader, hook):
        self.loader = loader
        self.hook = hook

    def __getattr__(self, name):
        return getattr(self.loader, name)

    def create_module(self, spec):
        create_module = getattr(self.loader, "create_module", None)
        return create_module(spec) if create_module is not None else None

    def exec_module(self, module):
        module.__loader__ = self.loader
        if getattr(module, "__spec__", None) is not None:
            module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        _run_hook(self.hook, module)


def _run_hook(target, module):
    """Call `target` ("module:function") with `module`; a failure is reported, never raised into the import."""
    module_name, _, function = target.partition(":")
    try:
        __import__(module_name)
        getattr(sys.modules[module_name], function)(module)
    except Exception as error:  # the user's import must go on whatever happens here
        sys.stderr.write(f"peft-efficiency: the start-up hook for {module.__name__} failed "
                         f"({type(error).__name__}: {error}); {OFF_VARIABLE}=0 turns it off\n")
