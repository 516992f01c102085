import math
import re
import shutil
import subprocess

import pandas as pd
import pytest
from typer.testing import CliRunner

from spoc_bench.cli import app
from spoc_bench.latex import cell, latex_tables, tex
from spoc_bench.metrics import SUMMARY_COLUMNS

TEX_TOOLS = ("pdflatex", "pdftoppm", "pdftotext")
NO_TEX = (f"{'/'.join(t for t in TEX_TOOLS if not shutil.which(t))} not installed, so the LaTeX is not compiled "
          "(Debian: apt-get install texlive-latex-base texlive-latex-recommended poppler-utils)")


def summary() -> pd.DataFrame:
    """Two detectors, an untargeted attack and a targeted one (targets A, B and their pool), two
    perturbations; names with LaTeX's special characters."""
    records = []

    def add(attack, target, detector, perturbation, metric, value, spread, n):
        threat = "none" if attack == "identity" else "black-box; 50%"
        weights = {"det_1": "w#1", "det2": "w2"}[detector]
        records.append(["my_data", attack, threat, target, detector, weights, perturbation, metric, value,
                        value - spread, value + spread, n])

    for detector, skill in (("det_1", 0.0), ("det2", 0.2)):
        for perturbation, drop in (("none", 0.0), ("jpeg:90", 0.3)):
            for attack, targets in (("identity", ["all"]), ("x&y", ["A", "B", "all"])):
                for target in targets:
                    asr = 0.1 if attack == "identity" else {"A": 0.8, "B": 0.4, "all": 0.6}[target] - drop - skill
                    add(attack, target, detector, perturbation, "asr", round(asr, 3), 0.0 if attack == "identity" else 0.1,
                        20 if target == "all" and attack != "identity" else 10)
                    add(attack, target, detector, perturbation, "acc", round(0.9 - drop - skill, 3), 0.05, 10)
                    quality = (math.inf, 1.0) if attack == "identity" else (31.25, 0.9)
                    add(attack, target, detector, perturbation, "psnr", quality[0], 0.5 * (attack != "identity"), 10)
                    add(attack, target, detector, perturbation, "ssim", quality[1], 0.01 * (attack != "identity"), 10)
    return pd.DataFrame(records, columns=SUMMARY_COLUMNS)


def tables(text: str) -> dict[str, str]:
    """Each table float of ``text`` by its label."""
    floats = re.findall(r"\\begin\{table\}.*?\\end\{table\}", text, re.S)
    return {re.search(r"\\label\{(.*?)\}", f).group(1): f for f in floats}


def body(table: str) -> list[str]:
    return table.split("\\midrule\n")[1].split("\n\\bottomrule")[0].split("\n")


def test_tex_escapes_every_special_character():
    assert tex("a_b&c%d$e#f{g}h~i^j\\k<l>m|n--o") == (
        r"a\_b\&c\%d\$e\#f\{g\}h\textasciitilde{}i\textasciicircum{}j\textbackslash{}k\textless{}l"
        r"\textgreater{}m\textbar{}n-{}-o")
    assert tex("jpeg:90") == "jpeg:90" and tex("resize:0.5+jpeg:90") == "resize:0.5+jpeg:90"


def test_a_cell_is_the_mean_with_its_interval_as_offsets():
    assert cell(0.625, 0.5, 0.771, 3) == "$0.625^{+0.146}_{-0.125}$"
    assert cell(0.6, 0.5, 0.7, 3, bold=True) == r"$\mathbf{0.600} \pm 0.100$"
    assert cell(0.125, 0.125, 0.125, 3) == "$0.125$"
    assert cell(32.08864, 31.8827, 32.2952, 1) == r"$32.1 \pm 0.2$"
    assert cell(math.inf, math.inf, math.inf, 1) == r"$\infty$" and cell(math.nan, math.nan, math.nan, 3) == "--"


def test_one_table_per_metric_with_shared_keys_in_the_caption():
    found = tables(latex_tables(summary(), label="tab:t"))
    assert list(found) == ["tab:t-acc", "tab:t-asr", "tab:t-psnr-ssim"]
    asr = found["tab:t-asr"]
    assert r"\begin{tabular}{llcc}" in asr and r"\toprule" in asr and r"\cmidrule(lr){3-4}" in asr
    caption = re.search(r"\\caption\{(.*)\}\n", asr).group(1)
    for fact in (r"Dataset my\_data", "pooled over the 2 targets", r"Weights: det\_1 (w\#1), det2 (w2)",
                 r"Threat models: identity (none), x\&y (black-box; 50\%)", "$n = 10$ to $20$ images per cell",
                 "bold: the highest value of each column"):
        assert fact in caption, fact
    assert body(asr) == [
        r"det\_1 & identity & $0.100$ & $0.100$ \\",
        r" & x\&y & $\mathbf{0.600} \pm 0.100$ & $\mathbf{0.300} \pm 0.100$ \\",
        r"\addlinespace",
        r"det2 & identity & $0.100$ & $0.100$ \\",
        r" & x\&y & $0.400 \pm 0.100$ & $0.100 \pm 0.100$ \\",
    ]
    assert "Detector & Attack & none & jpeg:90" in asr and "my\\_data &" not in asr


def test_metrics_no_attack_changes_are_not_repeated_per_attack():
    found = tables(latex_tables(summary(), label="tab:t"))
    assert body(found["tab:t-acc"]) == [r"det\_1 & $\mathbf{0.900} \pm 0.050$ & $\mathbf{0.600} \pm 0.050$ \\",
                                        r"det2 & $0.700 \pm 0.050$ & $0.400 \pm 0.050$ \\"]
    quality = found["tab:t-psnr-ssim"]
    assert "Attack & PSNR (dB) & SSIM" in quality
    assert body(quality) == [r"identity & $\infty$ & $\mathbf{1.000}$ \\", r"x\&y & $31.2 \pm 0.5$ & $0.900 \pm 0.010$ \\"]
    white_box = summary()
    chosen = (white_box.detector == "det2") & (white_box.metric == "psnr") & (white_box.attack == "x&y")
    white_box.loc[chosen, ["value", "ci_low", "ci_high"]] = [28.0, 27.5, 28.5]
    found = tables(latex_tables(white_box, label="tab:t"))  # PSNR now differs per detector: a table of its own
    assert list(found) == ["tab:t-acc", "tab:t-asr", "tab:t-psnr", "tab:t-ssim"]
    assert "Detector & Attack & PSNR (dB)" in found["tab:t-psnr"] and "Detector" not in found["tab:t-ssim"]
    assert body(found["tab:t-psnr"])[-1] == r" & x\&y & $28.0 \pm 0.5$ \\"


def test_per_target_rows_and_another_pivot():
    asr = tables(latex_tables(summary(), per_target=True, metrics=["asr"], label="tab:t"))["tab:t-asr"]
    assert "Detector & Attack & Target & none & jpeg:90" in asr and "pooled" not in asr
    assert r" &  & A & $\mathbf{0.800} \pm 0.100$ & $\mathbf{0.500} \pm 0.100$ \\" in asr
    assert len(body(asr)) == 2 * 4 + 1  # (identity: the pool alone; x&y: A, B, pool) per detector, a space between
    by_attack = tables(latex_tables(summary(), pivot="attack", metrics=["asr"], label="tab:t"))["tab:t-asr"]
    assert r"\multicolumn{2}{c}{Attack}" in by_attack and r"Detector & Perturbation & identity & x\&y \\" in by_attack
    assert r" & jpeg:90 & $0.100$ & $0.300 \pm 0.100$ \\" in by_attack


def test_report_prints_latex_and_refuses_a_bad_pivot(demo_run):
    runner = CliRunner()
    result = runner.invoke(app, ["report", str(demo_run), "--format", "latex", "--metric", "asr,psnr", "--label", "tab:mine"])
    assert result.exit_code == 0, result.output
    assert result.output == (demo_run / "summary.tex").read_text()
    assert list(tables(result.output)) == ["tab:mine-asr", "tab:mine-psnr"]
    assert "ASR" in result.output and "pooled over the 3 targets" in result.output
    default = runner.invoke(app, ["report", str(demo_run)])
    assert default.exit_code == 0 and default.output.startswith("| dataset | attack |")
    for bad, message in ((["--pivot", "metric"], "--pivot 'metric': use one of perturbation"),
                         (["--format", "pdf"], "--format 'pdf': use markdown, latex or html"),
                         (["--metric", "asr,nope"], "--metric nope: unknown")):
        refused = runner.invoke(app, ["report", str(demo_run), *bad])
        assert refused.exit_code == 2 and refused.output.startswith(f"error: {message}"), refused.output
        assert len(refused.output.strip().splitlines()) == 1


@pytest.mark.skipif(not all(shutil.which(t) for t in TEX_TOOLS), reason=NO_TEX)
def test_the_tables_compile_and_render(demo_run, tmp_path):
    (tmp_path / "made.tex").write_text(latex_tables(summary(), per_target=True, label="tab:made"))
    (tmp_path / "run.tex").write_text(latex_tables(pd.read_csv(demo_run / "summary.csv"), label="tab:run"))
    (tmp_path / "paper.tex").write_text("\n".join([
        r"\documentclass{article}", r"\usepackage{booktabs}", r"\usepackage[margin=2.5cm]{geometry}",
        r"\begin{document}", r"\input{made}", r"\clearpage", r"\input{run}", r"\end{document}", ""]))
    for _ in range(2):  # the second pass resolves the labels
        compiled = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "paper.tex"],
                                  cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert compiled.returncode == 0, compiled.stdout[-3000:]
    log = (tmp_path / "paper.log").read_text(errors="replace")
    assert "Overfull \\hbox" not in log and "Missing character" not in log and "undefined" not in log
    text = subprocess.run(["pdftotext", "-layout", "paper.pdf", "-"], cwd=tmp_path, capture_output=True,
                          text=True, check=True).stdout
    for printed in (r"my[_ ]data", r"x&y \(black-box; 50%\)", r"det[_ ]1 \(w#1\)", "jpeg:90", "Table 1:", "Table 4:"):
        assert re.search(printed, text), printed  # OT1 fonts draw \_ as a rule, which pdftotext reads as a space
    subprocess.run(["pdftoppm", "-r", "60", "-png", "paper.pdf", "page"], cwd=tmp_path, check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 2 and all(page.stat().st_size > 10_000 for page in pages)
