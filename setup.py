"""Package list only (everything else is in pyproject.toml): the repo's `harness_tasks/` folder ships as
`peft_efficiency.harness_tasks`, which setuptools' automatic discovery cannot map."""

from setuptools import find_packages, setup

setup(packages=find_packages(include=["peft_efficiency", "peft_efficiency.*"]) + ["peft_efficiency.harness_tasks"])
