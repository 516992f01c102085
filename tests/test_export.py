import shutil
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from typer.testing import CliRunner

from spoc_bench.cli import app
from spoc_bench.export import entry
from spoc_bench.images import read_image

runner = CliRunner()


def test_rows_name_each_attacked_image_file(demo_run):
    rows = pd.read_parquet(demo_run / "rows.parquet")
    attacked = rows.source == "attacked"
    assert rows.path[~attacked].isna().all()
    assert all(Path(path).is_file() for path in rows.path[attacked].unique())
    per_image = rows[attacked].groupby("id").path.nunique()  # each image one file, whatever the detector
    assert (per_image == 1).all() and len(per_image) == 12 + 3 * 12


def test_export_writes_each_attacked_image_once_named_by_attack_target_and_input(demo_run, tmp_path):
    out = tmp_path / "attacked"
    result = runner.invoke(app, ["export", str(demo_run), "--attacked", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output == f"exported 48 attacked image(s) of 2 attack(s) to {out}/; wrote {out}/index.csv\n"
    index = pd.read_csv(out / "index.csv", keep_default_na=False)
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == sorted([*index.file, "index.csv"]) and index.file.is_unique
    identity = index[index.attack == "identity"]
    assert len(identity) == 12 and set(identity.target) == {"untargeted"}
    assert all(f == f"identity/untargeted/{i}.png" for f, i in zip(identity.file, identity.input_id))
    mimic = index[index.attack == "jpeg-mimic"]
    assert mimic.groupby("target").size().to_dict() == {"demo-A": 12, "demo-B": 12, "demo-C": 12}
    assert all(f == f"jpeg-mimic/{t}/{i}.jpg" for f, t, i in zip(mimic.file, mimic.target, mimic.input_id))
    for file, cached in zip(index.file, index.cached):
        assert (out / file).read_bytes() == Path(cached).read_bytes()
    rows = pd.read_parquet(demo_run / "rows.parquet").drop_duplicates("path").set_index("path")
    assert (rows.loc[index.cached, "psnr"].to_numpy(float) == index.psnr.to_numpy(float)).all()
    again = runner.invoke(app, ["export", str(demo_run), "--attacked", str(out)])
    assert again.exit_code == 0 and sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == written


def test_a_mimicked_image_is_saved_as_its_target_saves(demo_run, tmp_path, demo_root):
    from spoc_bench.datasets.demo import Demo

    out = tmp_path / "attacked"
    assert runner.invoke(app, ["export", str(demo_run), "--attacked", str(out)]).exit_code == 0
    camera = next(s for s in Demo(root=str(demo_root)).samples("attacker") if s.camera == "demo-B")
    exported = next((out / "jpeg-mimic" / "demo-B").rglob("*.jpg"))
    assert read_image(exported)[1].qtables == read_image(camera.path)[1].qtables


def test_a_white_box_image_has_a_folder_per_detector():
    row = SimpleNamespace(attack="pgd-white-box", target="alpha-1", detector="bondi2017", weights="simcam",
                          input_id="transposed/leaves_0", id="transposed/leaves_0@pgd-white-box>alpha-1",
                          threat_model="white-box", psnr=37.0, ssim=0.9, path="/cache/attacked/ab/transposed%2Fleaves_0.jpg")
    assert entry(row)["file"] == "pgd-white-box/alpha-1/bondi2017:simcam/transposed/leaves_0.jpg"
    with pytest.raises(ValueError, match="would leave the export folder"):
        entry(SimpleNamespace(**{**row.__dict__, "input_id": "../../etc/x"}))


def test_export_names_what_is_missing_in_one_line(demo_run, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(demo_run, old)
    pd.read_parquet(old / "rows.parquet").drop(columns=["path"]).to_parquet(old / "rows.parquet", index=False)
    result = runner.invoke(app, ["export", str(old), "--attacked", str(tmp_path / "out")])
    assert result.exit_code == 2 and result.output.startswith("error: the attacked rows lack the column(s) path (")
    rows = pd.read_parquet(demo_run / "rows.parquet")
    rows.loc[rows.source == "attacked", "path"] = str(tmp_path / "cleaned" / "x.jpg")
    rows.to_parquet(old / "rows.parquet", index=False)
    result = runner.invoke(app, ["export", str(old), "--attacked", str(tmp_path / "out")])
    assert result.exit_code == 2 and "the attacked image is no longer in the cache" in result.output
    assert len(result.output.strip().splitlines()) == 1
    (tmp_path / "afile").write_text("")
    result = runner.invoke(app, ["export", str(demo_run), "--attacked", str(tmp_path / "afile")])
    assert result.exit_code == 2 and "--attacked" in result.output and "is a file" in result.output


def test_two_inputs_that_would_share_a_file_are_refused(tmp_path):
    from spoc_bench.export import export_attacked

    files = [tmp_path / "cache" / name for name in ("p%2Fa.jpg", "p%2Fa.jpg.jpg")]
    for file in files:
        file.parent.mkdir(exist_ok=True)
        file.write_bytes(b"jpeg")
    rows = pd.DataFrame({"source": "attacked", "attack": "jpeg-mimic", "threat_model": "black-box", "target": "T",
                         "detector": "jpeg-table", "weights": "fit:d", "id": ["p/a@x>T", "p/a.jpg@x>T"],
                         "input_id": ["p/a", "p/a.jpg"], "psnr": 30.0, "ssim": 0.9, "path": [str(f) for f in files]})
    with pytest.raises(ValueError, match="the inputs p/a and p/a.jpg would share the file jpeg-mimic/T/p/a.jpg"):
        export_attacked(rows, tmp_path / "out")
    assert not (tmp_path / "out").exists()
