"""Version checks in one place (peft_efficiency.versions): the supported ranges are the installed metadata's, an
out-of-range dependency or a feature that needs more than the floor is one message naming the package, the version
found and the version needed, and the figures reach train()'s metrics whatever a Trainer's `log` does with them."""

from __future__ import annotations

from importlib import metadata

import pytest
from packaging.requirements import Requirement
from transformers import Trainer

from foundation_helpers import classification_dataset, tiny_bert, training_args
from peft_efficiency import EfficiencyCallback, versions
from peft_efficiency.methods import MethodUnavailableError, get_method, make_options, method_requirements
from peft_efficiency.train_output import carry_figures_into_train_output


def test_the_supported_ranges_are_the_installed_metadata_s():
    declared = {Requirement(line).name: Requirement(line).specifier for line in metadata.requires("peft-efficiency")}
    assert versions.supported_range("transformers") == str(declared["transformers"])
    assert versions.supported_range("lm_eval") == str(declared["lm-eval"])  # names compare canonicalized
    assert versions.supported_range("no-such-package-zq") is None


def test_the_installed_core_packages_are_inside_their_ranges():
    versions.check_supported()  # the environment under test (lock, floors or newest) is a supported one
    for package in ("transformers", "peft", "accelerate", "datasets", "trl", "lm-eval"):
        assert versions.is_version(package, versions.supported_range(package)), package


def test_an_installed_version_below_the_range_is_one_message(monkeypatch):
    monkeypatch.setattr(versions, "package_version", lambda package: "4.20.0" if package == "transformers" else None)
    with pytest.raises(versions.UnsupportedVersionError) as error:
        versions.check_supported("transformers")
    needed = versions.supported_range("transformers")
    assert str(error.value) == (f"peft-efficiency supports transformers{needed}, but transformers 4.20.0 is installed. "
                                f"Fix: pip install 'transformers{needed}'")


def test_building_a_callback_in_an_unsupported_environment_is_one_message(monkeypatch):
    installed = versions.package_version
    monkeypatch.setattr(versions, "package_version", lambda package: "0.9.0" if package == "peft" else installed(package))
    with pytest.raises(versions.UnsupportedVersionError, match=r"^peft-efficiency supports peft>=\S+, but peft 0.9.0 is installed"):
        EfficiencyCallback(energy=False)


def test_a_package_that_is_not_installed_is_left_to_its_import(monkeypatch):
    monkeypatch.setattr(versions, "package_version", lambda package: None)
    versions.check_supported("transformers", "trl")


def test_a_feature_that_needs_more_names_package_found_and_needed(monkeypatch):
    found = metadata.version("peft")
    with pytest.raises(versions.UnsupportedVersionError) as error:
        versions.require_version("peft", ">=999", "the zq method")
    assert str(error.value) == f"the zq method needs peft>=999, but peft {found} is installed. Fix: pip install 'peft>=999'"
    versions.require_version("peft", f"=={found}", "the zq method")
    with pytest.raises(versions.UnsupportedVersionError, match="needs no-such-package-zq>=1, which is not installed"):
        versions.require_version("no-such-package-zq", ">=1", "the zq method")
    with pytest.raises(ValueError, match="not a version specifier"):
        versions.require_version("peft", "0.17", "the zq method")


def test_unmet_requirement_names_both_versions():
    found = metadata.version("peft")
    assert versions.unmet_requirement(f"peft>={found}") is None
    assert versions.unmet_requirement("peft>=999") == f"needs peft>=999, found {found}"
    assert versions.unmet_requirement("no-such-package-zq>=1") == "needs no-such-package-zq>=1, found none installed"


def test_a_local_build_tag_counts_as_its_release():
    torch_release = metadata.version("torch").split("+")[0]
    assert versions.is_version("torch", f"=={torch_release}")


def test_a_method_that_needs_a_newer_peft_stops_before_any_model_is_built(monkeypatch):
    requirements = method_requirements("loha")
    assert requirements == {"peft": ">=0.17"}
    installed = versions.package_version
    monkeypatch.setattr(versions, "package_version", lambda package: "0.16.0" if package == "peft" else installed(package))
    for call in (lambda: get_method("loha"), lambda: make_options("loha")):
        with pytest.raises(MethodUnavailableError) as error:
            call()
        assert str(error.value) == ("the loha method needs peft>=0.17, but peft 0.16.0 is installed. "
                                    "Fix: pip install 'peft>=0.17' (or choose another method)")
    get_method("lora")  # methods without a requirement are unaffected


def test_train_metrics_get_the_figures_when_a_trainer_s_log_copies_the_logs(tmp_path):
    """trl's SFTTrainer up to 0.19 merges its own metrics into a copy of `logs` before `Trainer.log`."""

    class CopyingTrainer(Trainer):
        def log(self, logs, *args, **kwargs):
            super().log({**logs, "extra_metric": 1.0}, *args, **kwargs)

    trainer = CopyingTrainer(model=tiny_bert(), args=training_args(tmp_path, max_steps=2),
                             train_dataset=classification_dataset(8), callbacks=[EfficiencyCallback(energy=False)])
    metrics = trainer.train().metrics
    logged = trainer.state.log_history[-1]
    assert "train_runtime" in logged and logged["efficiency/trainable_params"] > 0
    assert {k: v for k, v in metrics.items() if k.startswith("efficiency/")} == {
        k: v for k, v in logged.items() if k.startswith("efficiency/")}


def test_carrying_figures_leaves_the_same_dict_and_other_keys_alone():
    class Output:
        metrics = {"train_runtime": 1.0}

    final = {"train_runtime": 1.0, "efficiency/train_seconds": 0.9, "extra": 2}
    carry_figures_into_train_output(Output, final)
    assert Output.metrics == {"train_runtime": 1.0, "efficiency/train_seconds": 0.9}
    carry_figures_into_train_output(Output, None)
    same = {"efficiency/flops": 1.0}
    Output.metrics = same
    carry_figures_into_train_output(Output, same)
    assert Output.metrics == {"efficiency/flops": 1.0}


def test_env_names_what_lies_outside_the_supported_ranges(monkeypatch):
    from peft_efficiency.env_report import supported_ranges_status

    assert supported_ranges_status().startswith("yes (")
    installed = versions.package_version
    monkeypatch.setattr(versions, "package_version", lambda package: "0.9.0" if package == "peft" else installed(package))
    assert supported_ranges_status() == f"no: peft 0.9.0 (supported: {versions.supported_range('peft')})"
