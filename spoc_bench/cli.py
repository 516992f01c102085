"""The ``spoc-bench`` command line."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from . import registry
from .perturbations import KINDS, PerturbationError
from .presets import PRESETS

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Benchmark attacks on image-forensics detectors (SpoC and baselines).")

KINDS_OF_PLUGIN = {"attacks": registry.attacks, "detectors": registry.detectors, "datasets": registry.datasets}


def fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


@app.command("list")
def list_plugins(kind: Optional[str] = typer.Argument(None, help="attacks, detectors, datasets, perturbations or presets"),
                 pattern: str = typer.Option("*", help="glob on names, e.g. 'noise*'")):
    """List the registered plugins with a one-line description each (imports no model)."""
    kinds = [kind] if kind else [*KINDS_OF_PLUGIN, "perturbations", "presets"]
    for name in kinds:
        if name == "perturbations":
            entries = dict(KINDS)
        elif name == "presets":
            entries = {k: v["description"] for k, v in PRESETS.items()}
        elif name in KINDS_OF_PLUGIN:
            index = KINDS_OF_PLUGIN[name].index()
            entries = {n: index[n].summary for n in KINDS_OF_PLUGIN[name].names(pattern)}
        else:
            fail(f"unknown kind {name!r}; use attacks, detectors, datasets, perturbations or presets")
        typer.secho(f"{name}:", bold=True)
        for entry, summary in entries.items():
            typer.echo(f"  {entry:<16} {summary}")


def split_values(values: Optional[List[str]]) -> Optional[List[str]]:
    """Repeated flags and comma lists alike: ``--attack a --attack b`` or ``--attack a,b``."""
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def key_values(items: Optional[List[str]]) -> Optional[dict]:
    """``["synthetic=[gan]", "split=defender-test"]`` -> keywords, values read as YAML scalars/lists."""
    import yaml

    if not items:
        return None
    options = {}
    for item in items:
        key, equals, value = item.partition("=")
        if not equals or not key:
            fail(f"{item!r}: expected KEY=VALUE")
        options[key] = yaml.safe_load(value)
    return options


@app.command()
def run(attack: Optional[List[str]] = typer.Option(None, "--attack", "-a", help="attack name(s); several form a grid"),
        detector: Optional[List[str]] = typer.Option(None, "--detector", "-d", help="detector name(s), NAME or NAME:TAG"),
        dataset: Optional[List[str]] = typer.Option(None, "--dataset", help="dataset name(s)"),
        data_root: Optional[Path] = typer.Option(None, "--data-root", help="the dataset's folder (its `root`)"),
        dataset_opt: Optional[List[str]] = typer.Option(None, "--dataset-opt", help="KEY=VALUE for the dataset, e.g. synthetic=[gan]"),
        perturb: Optional[str] = typer.Option(None, "--perturb", "-p", help="e.g. none,jpeg:90,resize:0.5,blur:1"),
        target: Optional[List[str]] = typer.Option(None, "--target", help="target camera(s); default every camera"),
        preset: str = typer.Option("default", help=f"one of {', '.join(PRESETS)}"),
        n: Optional[int] = typer.Option(None, help="images per source (real test images, synthetic inputs)"),
        out: Optional[Path] = typer.Option(None, help="output folder (default runs/<preset>)"),
        cache: Optional[Path] = typer.Option(None, help="cache folder (default $SPOC_BENCH_CACHE or ~/.cache/spoc-bench)"),
        seed: int = typer.Option(0), device: str = typer.Option("cpu", help="cpu or cuda"),
        executor: str = typer.Option("local"), quiet: bool = typer.Option(False, "--quiet", "-q")):
    """Run a grid of attacks x detectors x perturbations and write rows, tables and a manifest."""
    from .runner import run as run_grid
    from .tables import to_markdown, wide

    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        fail(f"unknown device {device!r}; use cpu or cuda")
    out = out or Path("runs") / preset
    try:
        result = run_grid(preset, attacks=split_values(attack), detectors=split_values(detector),
                          datasets=split_values(dataset), perturbations=perturb, targets=split_values(target),
                          data_root=str(data_root) if data_root else None, dataset_options=key_values(dataset_opt),
                          n=n, seed=seed, device=device, out=out, cache=cache, executor=executor, progress=not quiet)
    except KeyError as error:  # str() of a KeyError quotes its message
        fail(str(error.args[0]) if error.args else str(error))
    except (PerturbationError, ValueError, FileNotFoundError, NotImplementedError) as error:
        fail(str(error))
    summary = result.summary
    if len(summary) and (summary.target == "all").any():  # the console shows the mean over targets
        summary = summary[summary.target == "all"]
        typer.echo("(rows averaged over targets; per-target rows are in summary.md)")
    typer.echo(to_markdown(wide(summary)))
    skipped = result.manifest["skipped"]
    if skipped["count"]:
        typer.secho(f"skipped {skipped['count']} file(s): {skipped['by_reason']} (see run.json)", fg=typer.colors.YELLOW)
    typer.echo(f"wrote {out}/: rows.parquet summary.csv summary.tex summary.md run.json")


@app.command()
def train(kind: str = typer.Argument(..., help="attack, detector or dataset"),
          name: str = typer.Argument(..., help="the plugin whose weights to train"),
          option: Optional[List[str]] = typer.Option(None, "--option", "-o", help="KEY=VALUE for its trainer"),
          device: str = typer.Option("cpu", help="cpu or cuda")):
    """Train a plugin's weights with its own recipe (e.g. `train dataset synthetic`)."""
    registries = {"attack": registry.attacks, "detector": registry.detectors, "dataset": registry.datasets}
    if kind not in registries:
        fail(f"unknown kind {kind!r}; use attack, detector or dataset")
    try:
        plugin = registries[kind].get(name)
    except registry.UnknownPluginError as error:
        fail(str(error))
    if not hasattr(plugin, "train"):
        fail(f"{kind} {name!r} has no weights to train")
    written = plugin.train(**(key_values(option) or {}), device=device, log=typer.echo)
    for path in written:
        typer.echo(f"wrote {path}")


@app.command()
def show(what: str = typer.Argument(..., help="a dataset name, or `attack`"),
         name: Optional[str] = typer.Argument(None, help="the attack's name (after `attack`)"),
         out: Optional[Path] = typer.Option(None, help="the PNG to write (default runs/show-<name>.png)"),
         split: str = typer.Option("defender-train"), per_class: int = typer.Option(16),
         dataset: str = typer.Option("simcam", help="for `show attack`: the dataset"),
         target: Optional[List[str]] = typer.Option(None, help="for `show attack`: target(s), default 3"),
         data_root: Optional[Path] = typer.Option(None, "--data-root")):
    """PNG sheets: `show DATASET` (samples, residuals, spectra per camera and generator) or
    `show attack NAME` (inputs, outputs, differences, residuals, spectra per target)."""
    from .show import attack_sheet, dataset_sheet

    root = {"root": str(data_root)} if data_root else {}
    try:
        data = registry.datasets.build(dataset if what == "attack" else what, **root)
        data.prepare()
        if what == "attack":
            if not name:
                fail("show attack needs the attack's name, e.g. `spoc-bench show attack spoc`")
            cameras = sorted({s.camera for s in data.samples("attacker") if s.camera})
            targets = split_values(target) or cameras[:3]
            path = attack_sheet(registry.attacks.build(name), data, targets, out or Path("runs") / f"show-{name}.png")
        else:
            path = dataset_sheet(data, out or Path("runs") / f"show-{what}.png", split, per_class)
    except (registry.UnknownPluginError, FileNotFoundError, ValueError) as error:
        fail(str(error))
    typer.echo(f"wrote {path}")


@app.command("attack")
def attack_images(name: str = typer.Argument(..., help="an attack that needs no detector, e.g. spoc"),
                  target: str = typer.Option(..., help="the camera model to impersonate"),
                  input: Path = typer.Option(..., "--input", help="folder of images (any size)"),
                  output: Path = typer.Option(..., "--output", help="folder for the attacked images"),
                  dataset: str = typer.Option("simcam", help="where the target's sample images come from"),
                  data_root: Optional[Path] = typer.Option(None, "--data-root"),
                  weights: Optional[str] = typer.Option(None, help="the attack's weights tag")):
    """Attack every image of a folder and save each as the target camera saves its files."""
    from .apply import attack_folder

    try:
        attack = registry.attacks.build(name, **({"weights": weights} if weights else {}))
        data = registry.datasets.build(dataset, **({"root": str(data_root)} if data_root else {}))
        data.prepare()
        manifest = attack_folder(attack, data, target, input, output)
    except (registry.UnknownPluginError, FileNotFoundError, ValueError) as error:
        fail(str(error))
    images = manifest["images"]
    mean = sum(r["psnr"] for r in images) / len(images) if images else float("nan")
    typer.echo(f"attacked {len(images)} image(s) towards {target} (mean PSNR {mean:.2f} dB), "
               f"skipped {len(manifest['skipped'])}; wrote {output}/manifest.json")


@app.command()
def detect(name: str = typer.Argument(..., help="a detector, e.g. noiseprint or bondi2017 (NAME:TAG works too)"),
           input: Path = typer.Option(..., "--input", help="folder of images (any size)"),
           weights: Optional[str] = typer.Option(None, help="the detector's weights tag"),
           csv: Optional[Path] = typer.Option(None, "--csv", help="write the scores to this CSV file"),
           dataset: str = typer.Option("simcam", help="where a fitted detector (fingerprints, classifier) learns"),
           data_root: Optional[Path] = typer.Option(None, "--data-root"),
           device: str = typer.Option("cpu", help="cpu or cuda")):
    """Score every image of a folder: the predicted class and each class's probability per file."""
    from .detect import detect_folder
    from .images import atomic_write
    from .runner import split_spec

    name, tag = split_spec(name)
    try:
        detector = registry.detectors.build(name, **({"weights": weights or tag} if weights or tag else {}))
        if hasattr(detector, "device"):
            detector.device = device
        if detector.needs_fit:
            data = registry.datasets.build(dataset, **({"root": str(data_root)} if data_root else {}))
            data.prepare()
            detector.fit(data)
        scores, skipped = detect_folder(detector, input)
    except (registry.UnknownPluginError, FileNotFoundError, ValueError) as error:
        fail(str(error))
    for entry in skipped:
        typer.echo(f"skipped {entry['file']}: {entry['reason']}", err=True)
    if csv:
        atomic_write(csv, scores.to_csv(index=False, float_format="%.6g").encode())
        typer.echo(f"scored {len(scores)} image(s), skipped {len(skipped)}; wrote {csv}")
    else:
        typer.echo(scores.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        typer.echo(f"scored {len(scores)} image(s), skipped {len(skipped)}")


@app.command()
def report(folder: Path = typer.Argument(..., help="a run's output folder")):
    """Re-render the summary tables from a run's per-image rows."""
    import json

    import pandas as pd

    from .metrics import summarise
    from .tables import to_markdown, wide, write_tables

    rows_file = folder / "rows.parquet"
    if not rows_file.exists():
        fail(f"{rows_file} not found: is {folder} the output folder of `spoc-bench run`?")
    seed = json.loads((folder / "run.json").read_text()).get("grid", {}).get("seed", 0) if (folder / "run.json").exists() else 0
    summary = summarise(pd.read_parquet(rows_file), seed=seed)
    write_tables(summary, folder)
    typer.echo(to_markdown(wide(summary)))


@app.command()
def check(folder: Path = typer.Argument(..., help="a run's output folder (or its summary.csv)"),
          against: Path = typer.Option(..., help="the baseline summary.csv, e.g. reports/smoke.csv"),
          tol: float = typer.Option(0.02, help="absolute tolerance for every metric without its own"),
          metric_tol: Optional[List[str]] = typer.Option(None, "--metric-tol", help="METRIC=TOL, e.g. psnr=0.5")):
    """Exit non-zero, naming every metric that moved beyond tolerance or went missing."""
    import pandas as pd

    from .check import compare

    current_file = folder if folder.suffix == ".csv" else folder / "summary.csv"
    for file in (current_file, against):
        if not file.exists():
            fail(f"{file} not found")
    tolerances = {}
    for item in split_values(metric_tol) or []:
        metric, _, value = item.partition("=")
        try:
            tolerances[metric] = float(value)
        except ValueError:
            fail(f"--metric-tol {item!r}: expected METRIC=NUMBER")
    problems = compare(pd.read_csv(current_file), pd.read_csv(against), tol, tolerances)
    for problem in problems:
        typer.echo(problem)
    if problems:
        typer.secho(f"{len(problems)} metric(s) moved beyond tolerance or are missing", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    typer.echo(f"ok: every metric of {against} within tolerance")


weights_app = typer.Typer(no_args_is_help=True, help="Import weights that are not ours to ship.")
app.add_typer(weights_app, name="weights")


@weights_app.command("import")
def import_weights(name: str = typer.Argument(..., help="noiseprint"),
                   source: Path = typer.Argument(..., help="a clone of grip-unina/noiseprint (or a folder of .npz)"),
                   to: Optional[Path] = typer.Option(None, help="destination (default: the weights folder in the cache)")):
    """Convert official weights (TensorFlow checkpoints, read without TensorFlow) to safetensors."""
    from .weights import import_noiseprint

    if name != "noiseprint":
        fail(f"no importer for {name!r}; importers: noiseprint")
    try:
        manifest = import_noiseprint(source, to)
    except (FileNotFoundError, ValueError) as error:
        fail(str(error))
    typer.echo(f"wrote {len(manifest['files'])} networks to {manifest['destination']}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
