import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from spoc_bench import figures
from spoc_bench.cli import app
from spoc_bench.latex import pooled

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NO_CHROMIUM = "chromium not installed, so the page is not rendered (Debian: apt-get install chromium)"
DRAWN = ["robustness-jpeg", "heatmap", "targets", "attack-sheet"]  # the demo run: none and jpeg:90 only


class Tags(HTMLParser):
    def __init__(self, text: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def named(self, tag: str) -> list[dict]:
        return [attrs for name, attrs in self.tags if name == tag]


def test_a_run_writes_its_figures_as_png_and_pdf(demo_run):
    folder = demo_run / "figures"
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{n}{s}" for n in DRAWN for s in (".png", ".pdf"))
    for name in DRAWN:
        assert (folder / f"{name}.pdf").read_bytes().startswith(b"%PDF") and (folder / f"{name}.pdf").stat().st_size > 5_000
        width, height = Image.open(folder / f"{name}.png").size
        assert width >= 600 and height >= 300, name


def test_the_page_holds_tables_figures_grid_and_provenance(demo_run):
    text = (demo_run / "index.html").read_text()
    tags = Tags(text)
    images = tags.named("img")
    assert [i["alt"].split(":")[0] for i in images] == ["Robustness to jpeg", "Attack x detector (none)",
                                                         "Per target camera (none)", "Attack sheet"]
    assert all(i["src"].startswith("data:image/png;base64,") for i in images)
    # camera and synthetic detectors: pooled and per target each; then the grid, provenance and weights
    assert len(tags.named("table")) == 4 + 2 + ("<th>sha256</th>" in text)
    links = [a["href"] for a in tags.named("a")] + [i["src"] for i in images]
    assert not [link for link in links if "://" in link or link.startswith("//")]
    assert all((demo_run / link).is_file() for link in links if link.startswith("figures/"))
    for fact in ("jpeg-mimic (black-box", "jpeg-table (fit:demo)", "0.333 [", "n = 12", "CPU", "commit",
                 "<td>fp32</td>"):
        assert fact in text, fact


def plotted(monkeypatch, draw):
    """The matplotlib figure ``draw()`` made, caught before it is saved and closed."""
    caught = []
    monkeypatch.setattr(figures, "save", lambda figure, *paths: caught.append(figure))
    draw()
    return caught[0]


def test_the_curves_and_bars_are_the_summary_values(demo_run, tmp_path, monkeypatch):
    summary = pd.read_csv(demo_run / "summary.csv", keep_default_na=False)
    headline = pooled(summary[summary.metric.isin(figures.HEADLINE)]).set_index(["detector", "attack", "perturbation"])
    figure = plotted(monkeypatch, lambda: figures.write_figures(summary, pd.DataFrame({"source": []}), tmp_path))
    lines = 0
    for axis in figure.axes:
        detector = axis.get_title().split(" (")[0]
        for line in axis.get_lines():
            if line.get_label() in ("identity", "jpeg-mimic"):
                expected = [headline.value[(detector, line.get_label(), p)] for p in ("jpeg:90", "none")]
                assert np.allclose(line.get_ydata(), expected), (detector, line.get_label())
                lines += 1
    assert lines == 4
    bars = plotted(monkeypatch, lambda: figures.targets(summary, tmp_path))
    camera = next(axis for axis in bars.axes if axis.get_title() == "jpeg-table (fit:demo)")
    asr = summary[(summary.metric == "asr") & (summary.perturbation == "none") & (summary.detector == "jpeg-table")]
    mimic = asr[(asr.attack == "jpeg-mimic") & (asr.target != "all")].value.to_numpy()
    assert np.allclose([bar.get_height() for bar in camera.patches], mimic)  # the one targeted attack
    (identity,) = [line for line in camera.get_lines() if line.get_label() == "identity (untargeted)"]
    assert identity.get_ydata()[0] == asr[asr.attack == "identity"].value.item()


def test_report_html_writes_the_page_again(demo_run, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(demo_run, copy)
    shutil.rmtree(copy / "figures")
    (copy / "index.html").unlink()
    rows = pd.read_parquet(copy / "rows.parquet")
    rows["path"] = rows.path.where(rows.path.isna(), str(tmp_path / "gone.png"))  # the cache was cleaned
    rows.to_parquet(copy / "rows.parquet", index=False)
    result = CliRunner().invoke(app, ["report", str(copy), "--format", "html"])
    assert result.exit_code == 0, result.output
    assert result.output == f"wrote {copy / 'index.html'} and {copy / 'figures'}/\n"
    text = (copy / "index.html").read_text()
    assert len(Tags(text).named("img")) == 3 and "Attack sheet: the run&#39;s attacked images" in text
    assert "Not drawn: ImageError" in text and not (copy / "figures" / "attack-sheet.png").exists()


@pytest.mark.skipif(not CHROMIUM, reason=NO_CHROMIUM)
def test_the_page_renders_in_headless_chromium(demo_run, tmp_path):
    shot = tmp_path / "page.png"
    copy = tmp_path / "copied-run"  # works offline from anywhere: nothing outside the folder is read
    shutil.copytree(demo_run, copy)
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--screenshot={shot}", "--window-size=1280,2600", (copy / "index.html").as_uri()],
                   capture_output=True, timeout=120, check=True)
    pixels = np.asarray(Image.open(shot).convert("RGB"), float)
    assert pixels.shape == (2600, 1280, 3)
    grey = pixels.mean(axis=2)
    assert grey.std() > 20 and (grey < 200).mean() > 0.03  # text, table rules and figures, not a blank page
    colourful = (pixels.max(axis=2) - pixels.min(axis=2)) > 80
    assert colourful[1000:].mean() > 0.005  # the figures' lines and heat cells drew (below the tables)
    rows_with_ink = (grey < 230).any(axis=1)
    assert rows_with_ink[:900].mean() > 0.3  # the tables fill the top of the page
