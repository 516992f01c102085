import subprocess
import sys

import pytest

import spoc_bench
from spoc_bench.registry import DuplicatePluginError, Registry, UnknownPluginError


def test_builtin_plugins_are_listed_with_descriptions():
    assert {"identity"} <= set(spoc_bench.list_attacks())
    assert {"jpeg-table", "spectrum"} <= set(spoc_bench.list_detectors())
    assert {"folder", "demo"} <= set(spoc_bench.list_datasets())
    assert "JPEG" in spoc_bench.registry.detectors.index()["jpeg-table"].summary
    assert spoc_bench.list_detectors("spec*") == ["spectrum"]


def test_listing_imports_no_plugin_and_no_torch():
    code = ("import sys, spoc_bench.cli as c; from typer.testing import CliRunner;"
            "r = CliRunner().invoke(c.app, ['list']); assert r.exit_code == 0, r.output;"
            "assert 'jpeg-table' in r.output and 'identity' in r.output, r.output;"
            "bad = [m for m in sys.modules if m == 'torch' or m.startswith('spoc_bench.detectors.')];"
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unknown_name_suggests_the_close_one():
    with pytest.raises(UnknownPluginError, match="Did you mean 'spectrum'") as error:
        spoc_bench.build_detector("spectrun")
    assert "Known:" in str(error.value)
    with pytest.raises(UnknownPluginError, match="unknown attack 'zzz'"):
        spoc_bench.build_attack("zzz")


def test_build_by_name_and_config_round_trip():
    detector = spoc_bench.build_detector("spectrum", bins=32)
    assert detector.name == "spectrum" and detector.config()["bins"] == 32
    assert type(detector)(**detector.config()).config() == detector.config()


def test_duplicate_names_are_refused(tmp_path, monkeypatch):
    registry = Registry("thing", "spoc_bench.attacks")

    @registry.register("same")
    class First:
        pass

    with pytest.raises(DuplicatePluginError, match="registered twice"):
        @registry.register("same")
        class Second:
            pass

    package = tmp_path / "dupes"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for module in ("one", "two"):
        (package / f"{module}.py").write_text(
            "from spoc_bench.registry import register_attack\n"
            "@register_attack('twin')\nclass Twin:\n    '''A twin.'''\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(DuplicatePluginError, match="declared twice"):
        Registry("attack", "dupes").index()


def test_build_spec_reads_the_tag_as_weights_and_sets_the_device():
    from spoc_bench import registry

    detector = registry.detectors.build_spec("bondi2017:w7", "cuda", patches=3)
    assert detector.weights == "w7" and detector.device == "cuda" and detector.patches == 3
    assert registry.detectors.build_spec("bondi2017").weights == "simcam"
    assert not hasattr(registry.attacks.build_spec("jpeg-mimic", "cuda"), "device")
    with pytest.raises(ValueError, match="'jpeg-mimic' has no weights"):
        registry.attacks.build_spec("jpeg-mimic:x")


def test_a_spec_carries_options_after_colons():
    from spoc_bench import registry

    assert registry.parse_spec("spoc:simcam:psnr=30") == ("spoc", "simcam", {"psnr": 30})
    assert registry.parse_spec("pgd-white-box:psnr=32.5:through_save=false") == (
        "pgd-white-box", None, {"psnr": 32.5, "through_save": False})
    assert registry.split_spec("spoc:psnr=30:simcam") == ("spoc", "simcam")
    attack = registry.attacks.build_spec("pgd-white-box:psnr=32:steps=20", "cuda")
    assert (attack.psnr, attack.steps, attack.epsilon, attack.device) == (32, 20, 4, "cuda")
    with pytest.raises(ValueError, match="'pgd-white-box' has no option 'psnx'; its options are epsilon, psnr"):
        registry.attacks.build_spec("pgd-white-box:psnx=32")
    with pytest.raises(ValueError, match="one weights tag at most"):
        registry.detectors.build_spec("bondi2017:a:b")
