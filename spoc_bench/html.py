"""A run's ``index.html``: one self-contained page (no external URL, every figure embedded as a
PNG data URI) with the tables and their CIs, the figures of :mod:`spoc_bench.figures`, the grid,
and the provenance from ``run.json`` (commit, command, machine, weights sha256)."""

from __future__ import annotations

import base64
from pathlib import Path

import pandas as pd

from .figures import Figure, write_figures
from .images import atomic_write
from .latex import pooled
from .metrics import CELL
from .tables import NOTE, split_note, wide

TEMPLATE = """{% macro facts(pairs) %}<table>{% for key, value in pairs %}<tr><th>{{ key }}</th><td>{{ value }}</td></tr>
{% endfor %}</table>{% endmacro %}
<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>spoc-bench run {{ name }}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 1200px; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 12px; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #eef1f5; } tr:nth-child(even) td { background: #f8f9fb; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
figure { margin: 1.2em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption, .note { color: #555; font-size: 12px; } code { font-size: 12px; }
</style></head><body>
<h1>spoc-bench run <code>{{ name }}</code></h1>
<p>{{ headline }}</p>
<h2>Results</h2>
{% for table in tables %}
{% if table.folded %}<details><summary>{{ table.caption }}</summary>{% else %}<p><b>{{ table.caption }}</b></p>{% endif %}
{% if table.shared %}<p class="note">Every row: {{ table.shared }}</p>{% endif %}
<table><tr>{% for column in table.columns %}<th>{{ column }}</th>{% endfor %}</tr>
{% for row in table.rows %}<tr>{% for value in row %}<td{% if loop.index > table.key_count %} class="num"{% endif %}>{{ value }}</td>{% endfor %}</tr>
{% endfor %}</table>
{% if table.folded %}</details>{% endif %}
{% endfor %}
<p class="note">{{ note }}</p>
<h2>Figures</h2>
{% for figure in figures %}
<figure id="{{ figure.name }}">
{% if figure.drawn %}<img src="{{ figure.uri }}" alt="{{ figure.title }}">{% endif %}
<figcaption>{% if not figure.drawn %}{{ figure.title }}. {% endif %}{{ figure.caption }}{% if figure.drawn %} Files: <a href="figures/{{ figure.name }}.png">PNG</a>,
<a href="figures/{{ figure.name }}.pdf">PDF</a>.{% endif %}</figcaption>
</figure>
{% endfor %}
<h2>Grid</h2>
{{ facts(grid) }}
<h2>Provenance</h2>
{{ facts(provenance) }}
{% if weights %}<p><b>Weights files</b></p>
<table><tr><th>plugin</th><th>file</th><th>sha256</th></tr>
{% for plugin, file, digest in weights %}<tr><td>{{ plugin }}</td><td>{{ file }}</td><td><code>{{ digest }}</code></td></tr>
{% endfor %}</table>{% endif %}
<p class="note">Written by spoc-bench from this folder's summary.csv and run.json;
<code>spoc-bench report {{ name }} --format html</code> writes it again.</p>
</body></html>
"""


def write_report(out: Path, rows: pd.DataFrame, summary: pd.DataFrame, manifest: dict, dataset_for=None) -> Path:
    """The figures under ``out/figures/`` and the page ``out/index.html`` that holds them."""
    out = Path(out)
    figures = write_figures(summary, rows, out / "figures", dataset_for)
    atomic_write(out / "index.html", page(out.resolve().name, summary, manifest, figures, out / "figures").encode())
    return out / "index.html"


def page(name: str, summary: pd.DataFrame, manifest: dict, figures: list[Figure], folder: Path) -> str:
    from jinja2 import Environment

    template = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True).from_string(TEMPLATE)
    shown = [{**figure._asdict(), "uri": embedded(folder / f"{figure.name}.png") if figure.drawn else ""}
             for figure in figures]
    return template.render(name=name, headline=headline(manifest, summary), tables=result_tables(summary),
                           note=NOTE, figures=shown, grid=grid_facts(manifest, summary),
                           provenance=provenance_facts(manifest), weights=weights_rows(manifest))


def embedded(png: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii")


def headline(manifest: dict, summary: pd.DataFrame) -> str:
    grid = manifest.get("grid", {})
    parts = [plural(len(grid.get(key, [])), key) for key in ("datasets", "attacks", "detectors", "perturbations")]
    total = manifest.get("timings_s", {}).get("total")
    took = f", {total:.0f} s" if total is not None else ""
    return f"{' x '.join(parts)}; {plural(summary.target[summary.target != 'all'].nunique(), 'targets')}{took}."


def plural(count: int, noun: str) -> str:
    return f"{count} {noun if count != 1 else noun[:-1]}"


TASKS = {"camera-model detectors": "asr", "synthetic-image detectors": "auc"}  # told apart by their metrics
OWNED = ["threat_model", "weights"]  # told in the grid beside their attack and detector


def result_tables(summary: pd.DataFrame) -> list[dict]:
    """Per kind of detector: the summary pooled over targets, then (folded away) per target."""
    tables = []
    for task, metric in TASKS.items():
        detectors = summary.detector[summary.metric == metric].unique()
        part = summary[summary.detector.isin(detectors)]
        own = part[part.target != "all"]
        if len(part):
            tables.append(table(pooled(part), f"{task[0].upper()}{task[1:]}, pooled over targets", False))
        if (part.target == "all").any() and len(own):
            tables.append(table(own, f"{task[0].upper()}{task[1:]} per target ({own.target.nunique()} targets): "
                                     f"click to open", True))
    return tables


def table(summary: pd.DataFrame, caption: str, folded: bool) -> dict:
    """A wide table as the template takes it: no empty column, the keys every row shares in a line above."""
    frame = wide(summary).drop(columns=OWNED)
    frame = frame.loc[:, (frame != "").any()]
    keys = [key for key in CELL if key in frame]
    shared = [key for key in keys if frame[key].nunique(dropna=False) == 1]
    text = ", ".join(f"{key} = {frame[key].iloc[0]}" for key in shared)
    frame = frame.drop(columns=shared)
    return {"caption": caption, "folded": folded, "columns": list(frame.columns), "rows": frame.values.tolist(),
            "key_count": len(keys) - len(shared), "shared": text}


def grid_facts(manifest: dict, summary: pd.DataFrame) -> list[tuple[str, str]]:
    grid = manifest.get("grid", {})
    threats = summary.drop_duplicates("attack").set_index("attack").threat_model
    attacks = ", ".join(f"{a} ({threats.get(a, '?')})" for a in grid.get("attacks", []))
    targets = list(dict.fromkeys(summary.target[summary.target != "all"]))
    weights = summary.drop_duplicates(["detector", "weights"])
    detectors = ", ".join(f"{d} ({w})" for d, w in zip(weights.detector, weights.weights))
    return [("datasets", ", ".join(grid.get("datasets", []))), ("attacks (threat model)", attacks),
            ("detectors (weights)", detectors),
            ("perturbations", ", ".join(grid.get("perturbations", []))),
            ("targets", ", ".join(targets) or "none"), ("n per source", grid.get("n") or "all"),
            ("seed", grid.get("seed", "")), ("device", grid.get("device", "")),
            ("precision", grid.get("precision", "fp32")),
            ("skipped files", manifest.get("skipped", {}).get("count", 0)),
            *((f"split of {name}", split_note(name, report)) for name, report in manifest.get("splits", {}).items())]


def provenance_facts(manifest: dict) -> list[tuple[str, str]]:
    git = manifest.get("git")
    commit = f"{git['commit']}{' (with uncommitted changes)' if git['dirty'] else ''}" if git else "not a git checkout"
    machine, command = manifest.get("machine", {}), manifest.get("command", {})
    versions = ", ".join(f"{k} {v}" for k, v in manifest.get("versions", {}).items())
    timings = ", ".join(f"{k} {v:.1f} s" for k, v in manifest.get("timings_s", {}).items())
    return [("commit", commit), ("command", command.get("argv", "")), ("working folder", command.get("cwd", "")),
            ("CPU", f"{machine.get('cpu', '')} ({machine.get('cpu_count', '?')} cores, "
                    f"torch {machine.get('torch_threads', '?')} threads)"),
            ("platform", machine.get("platform", "")), ("versions", versions), ("timings", timings),
            ("cache", manifest.get("cache", ""))]


def weights_rows(manifest: dict) -> list[tuple[str, str, str]]:
    return [(plugin, file, digest) for plugin, files in manifest.get("weights", {}).items()
            for file, digest in files.items()]
