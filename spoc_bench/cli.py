"""The ``spoc-bench`` command line.

A user error is one line on stderr naming the option or file and what would be accepted (exit 2);
an unexpected exception is one line too (exit 1), with its traceback under ``spoc-bench --debug``.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import sys
from pathlib import Path
from typing import List, Optional

import typer
from typer.core import TyperGroup

from . import registry
from .contracts import SPLITS
from .perturbations import KINDS, PerturbationError
from .precision import DEFAULT as PRECISION, PRECISIONS
from .presets import PRESETS

try:  # recent typer carries its own copy of click
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - older typer on click
    from click import exceptions as click_exceptions

NO_ARGS_IS_HELP = getattr(click_exceptions, "NoArgsIsHelpError", ())
DEBUG_ENV = "SPOC_BENCH_DEBUG"


def one_line(text: str) -> str:
    return " ".join(str(text).split())


class Commands(TyperGroup):
    """The command group: usage errors as one line on stderr; any other exception as one line
    (exit 1) unless ``--debug`` or ``$SPOC_BENCH_DEBUG`` asks for its traceback."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        args = list(sys.argv[1:] if args is None else args)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except NO_ARGS_IS_HELP as error:
            error.show()
            sys.exit(error.exit_code)
        except click_exceptions.ClickException as error:
            typer.secho(f"error: {usage_message(error)}", fg=typer.colors.RED, err=True)
            sys.exit(error.exit_code)
        except typer.Abort:
            typer.echo("aborted", err=True)
            sys.exit(1)
        except Exception as error:
            if "--debug" in args or os.environ.get(DEBUG_ENV):
                raise
            typer.secho(f"internal error: {type(error).__name__}: {one_line(error)} (a bug in spoc-bench: "
                        f"`spoc-bench --debug ...` shows its traceback)", fg=typer.colors.RED, err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


def usage_message(error) -> str:
    """A click error as one line, with the help command of the command it concerns."""
    context = getattr(error, "ctx", None)
    where = f" (see `{context.command_path} --help`)" if context is not None else ""
    return one_line(error.format_message()) + where


app = typer.Typer(cls=Commands, add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Benchmark attacks on image-forensics detectors (SpoC and baselines).")

KINDS_OF_PLUGIN = {"attacks": registry.attacks, "detectors": registry.detectors, "datasets": registry.datasets}


@app.callback()
def global_options(debug: bool = typer.Option(False, "--debug", help="show the traceback of an unexpected error")):
    """Benchmark attacks on image-forensics detectors (SpoC and baselines)."""


def fail(message: str) -> None:
    typer.secho(f"error: {one_line(message)}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def checked_device(device: str) -> str:
    """``cpu``, ``cuda`` or ``cuda:N`` where this torch sees that GPU."""
    if device == "cpu":
        return device
    if not re.fullmatch(r"cuda(:\d+)?", device):
        fail(f"--device {device!r}: use cpu, cuda or cuda:N")
    import torch

    if not torch.cuda.is_available():
        fail(f"--device {device}: this torch ({torch.__version__}) sees no CUDA GPU; use --device cpu")
    index = int(device.partition(":")[2] or 0)
    if index >= torch.cuda.device_count():
        fail(f"--device {device}: only {torch.cuda.device_count()} GPU(s) visible (cuda:0..); use one of them or cpu")
    return device


def check_writable(path: Path, option: str, kind: str = "folder") -> None:
    """Fail unless ``path`` can be written as a ``kind`` (folder or file), its folders created
    where missing."""
    if kind == "folder" and path.exists() and not path.is_dir():
        fail(f"{option} {path} is a file; give a folder (created where missing)")
    if kind == "file" and path.is_dir():
        fail(f"{option} {path} is a folder; give the path of a file (its folders are created where missing)")
    start = path if kind == "folder" else path.parent
    existing = next(p for p in [start, *start.parents] if p.exists())
    if not existing.is_dir():
        fail(f"{option} {path}: {existing} is a file, so nothing can be written below it; give a path in a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        fail(f"{option} {path}: {existing} is not writable; give a path in a folder you can write to")


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
        width = max(16, *map(len, entries)) if entries else 16
        for entry, summary in entries.items():
            typer.echo(f"  {entry:<{width}} {summary}")


def split_values(values: Optional[List[str]]) -> Optional[List[str]]:
    """Repeated flags and comma lists alike: ``--attack a --attack b`` or ``--attack a,b``."""
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def key_values(items: Optional[List[str]], option: str = "--dataset-opt") -> Optional[dict]:
    """``["synthetic=[gan]", "split=defender-test"]`` -> keywords, values read as YAML scalars/lists."""
    import yaml

    if not items:
        return None
    options = {}
    for item in items:
        key, equals, value = item.partition("=")
        if not equals or not key.strip():
            fail(f"{option} {item!r}: expected KEY=VALUE, e.g. size=128 or synthetic=[gan]")
        try:
            options[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as error:
            problem = getattr(error, "problem", None) or "a YAML error"
            fail(f"{option} {item!r}: {value!r} is not a valid YAML value ({problem}); "
                 f"give a number, text, true/false or a list such as [a, b]")
    return options


def check_keywords(function, options: dict, what: str, reserved: tuple = ("log",)) -> None:
    """Fail unless each option names a keyword of ``function`` (not one of ``reserved``) with a value
    of its default's type."""
    parameters = inspect.signature(function).parameters
    named = {n: p for n, p in parameters.items()
             if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and n not in ("self", "cls", *reserved)}
    open_ended = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    for key, value in options.items():
        if key not in named:
            if not open_ended:
                fail(f"{what}: unknown option {key!r}; accepted: {', '.join(named)}")
            continue
        default = named[key].default
        if not fits(value, default):
            fail(f"{what}: {key}={value!r} should be {describe(default)}, "
                 f"e.g. {key}={json.dumps(default, default=str)}")


def fits(value, default) -> bool:
    """Whether ``value`` has the type of ``default`` (anything fits a default of None)."""
    if default is None or default is inspect.Parameter.empty:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, (int, float)):
        kinds = int if isinstance(default, int) else (int, float)
        return isinstance(value, kinds) and not isinstance(value, bool)
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple)) and (not default or all(fits(v, default[0]) for v in value))
    return isinstance(value, type(default)) if isinstance(default, (str, dict)) else True


def describe(default) -> str:
    if isinstance(default, bool):
        return "true or false"
    if isinstance(default, (int, float)):
        return "an integer" if isinstance(default, int) else "a number"
    if isinstance(default, (list, tuple)):
        return f"a list of {describe(default[0]).removeprefix('an ').removeprefix('a ')}s" if default else "a list"
    return "text" if isinstance(default, str) else f"a {type(default).__name__}"


def dataset_options(items: Optional[List[str]], names: List[str]) -> Optional[dict]:
    """The ``--dataset-opt`` keywords, checked against the constructor of each dataset in ``names``."""
    options = key_values(items, "--dataset-opt")
    for name in names if options else []:
        try:
            dataset = registry.datasets.get(name)
        except registry.UnknownPluginError as error:
            fail(str(error))
        check_keywords(dataset.__init__, options, f"--dataset-opt for dataset {name!r}")
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
        n: Optional[int] = typer.Option(None, min=1, help="images per source (real test images, synthetic inputs)"),
        out: Optional[Path] = typer.Option(None, help="output folder (default runs/<preset>)"),
        cache: Optional[Path] = typer.Option(None, help="cache folder (default $SPOC_BENCH_CACHE or ~/.cache/spoc-bench)"),
        seed: int = typer.Option(0, min=0), device: str = typer.Option("cpu", help="cpu or cuda"),
        precision: str = typer.Option(PRECISION, help=f"{', '.join(PRECISIONS)}: the networks' arithmetic; auto is "
                                      "bf16 where the device computes it natively"),
        executor: str = typer.Option("local", help="local, or ray: each cell a Ray task"),
        address: Optional[str] = typer.Option(None, help="--executor ray: the Ray cluster (e.g. auto or HOST:6379); "
                                              "default a local Ray"),
        yes: bool = typer.Option(False, "--yes", help="run the paper preset even where it is estimated over an hour"),
        quiet: bool = typer.Option(False, "--quiet", "-q")):
    """Run a grid of attacks x detectors x perturbations and write rows, tables and a manifest."""
    from .runner import run as run_grid
    from .tables import notes, to_markdown, wide

    if preset not in PRESETS:
        fail(f"--preset {preset!r}: unknown; use one of {', '.join(PRESETS)}")
    checked_device(device)
    out = out or Path("runs") / preset
    check_writable(out, "--out")
    if cache:
        check_writable(cache, "--cache")
    names = split_values(dataset) or PRESETS[preset]["datasets"]
    try:
        result = run_grid(preset, attacks=split_values(attack), detectors=split_values(detector),
                          datasets=split_values(dataset), perturbations=perturb, targets=split_values(target),
                          data_root=str(data_root) if data_root else None,
                          dataset_options=dataset_options(dataset_opt, names),
                          n=n, seed=seed, device=device, precision=precision, out=out, cache=cache,
                          executor=executor, address=address,
                          approve=approve_cost(yes) if preset == "paper" else None, progress=not quiet)
    except KeyError as error:  # str() of a KeyError quotes its message
        fail(str(error.args[0]) if error.args else str(error))
    except (PerturbationError, ValueError, FileNotFoundError, NotImplementedError) as error:
        fail(str(error))
    summary = result.summary
    if summary.empty:
        fail(f"nothing to summarise: {why_empty(result.rows)}; the rows and run.json are in {out}/")
    if (summary.target == "all").any():  # the console shows the mean over targets
        summary = summary[summary.target == "all"]
        typer.echo("(rows averaged over targets; per-target rows are in summary.md)")
    typer.echo(to_markdown(wide(summary), notes(result.manifest["splits"])))
    skipped = result.manifest["skipped"]
    if skipped["count"]:
        typer.secho(f"skipped {skipped['count']} file(s): {skipped['by_reason']} (see run.json)", fg=typer.colors.YELLOW)
    typer.echo(f"wrote {out}/: rows.parquet summary.csv summary.tex summary.md run.json index.html figures/")


def why_empty(rows) -> str:
    if rows.empty:
        return "no image was measured (the splits, n and every skipped file are in run.json)"
    return (f"the {len(rows)} rows give no metric: a camera detector needs real images with a camera label, "
            "a synthetic-image detector real or synthetic images")


def approve_cost(yes: bool):
    """Print a grid's estimated cost; refuse one over an hour unless ``yes``."""
    from .cost import HOUR, duration

    def approve(cost) -> None:
        typer.echo(f"estimated cost: {cost}")
        if cost.seconds > HOUR and not yes:
            fail(f"--preset paper: estimated {duration(cost.seconds)}, over an hour; pass --yes to run it "
                 f"(or make it smaller: --n, --detector, --perturb)")

    return approve


@app.command()
def train(kind: str = typer.Argument(..., help="attack, detector, dataset or surrogate"),
          name: str = typer.Argument(..., help="the plugin whose weights to train"),
          option: Optional[List[str]] = typer.Option(None, "--option", "-o", help="KEY=VALUE for its trainer"),
          dataset: Optional[str] = typer.Option(None, help="the dataset it learns from (trainers that read one)"),
          data_root: Optional[Path] = typer.Option(None, "--data-root", help="that dataset's folder"),
          dataset_opt: Optional[List[str]] = typer.Option(None, "--dataset-opt", help="KEY=VALUE for that dataset"),
          device: str = typer.Option("cpu", help="cpu or cuda")):
    """Train a plugin's weights with its own recipe (e.g. `train dataset synthetic`, or `train attack
    spoc --dataset dresden --data-root DIR --dataset-opt synthetic_root=GAN_DIR`), or one of the
    attacker's surrogates (`train surrogate embedder`; SpoC, MISLGAN and the transfer attacks use them)."""
    registries = {"attack": registry.attacks, "detector": registry.detectors, "dataset": registry.datasets}
    if kind not in [*registries, "surrogate"]:
        fail(f"unknown kind {kind!r}; use attack, detector, dataset or surrogate")
    try:
        plugin = surrogate_trainer(name) if kind == "surrogate" else registries[kind].get(name)
    except registry.UnknownPluginError as error:
        fail(str(error))
    if not hasattr(plugin, "train"):
        fail(f"{kind} {name!r} has no weights to train")
    checked_device(device)
    options = key_values(option, "-o/--option") or {}
    if "device" in options:
        fail("-o/--option device=...: give the device with --device")
    check_keywords(plugin.train, options, f"-o/--option for `train {kind} {name}`", ("log", "device"))
    options.update(training_data(plugin, f"train {kind} {name}", options, dataset, data_root, dataset_opt))
    try:
        written = plugin.train(**options, device=device, log=typer.echo)
    except (FileNotFoundError, ValueError, NotImplementedError) as error:
        fail(str(error))
    for path in written:
        typer.echo(f"wrote {path}")


def surrogate_trainer(name: str):
    """An object whose ``train`` trains the attacker's surrogate ``name``."""
    from functools import partial
    from types import SimpleNamespace

    from .attacks.spoc import train_surrogate

    return SimpleNamespace(train=partial(train_surrogate, name))


def training_data(plugin, command: str, options: dict, dataset: str | None, data_root: Path | None,
                  dataset_opt: Optional[List[str]]) -> dict:
    """``train``'s --dataset, --data-root and --dataset-opt as the trainer's ``dataset`` and
    ``dataset_options`` keywords."""
    if not (dataset or data_root or dataset_opt):
        return {}
    if "dataset_options" not in inspect.signature(plugin.train).parameters:
        fail(f"`{command}` reads no dataset: --dataset, --data-root and --dataset-opt do not apply")
    if {"dataset", "dataset_options"} & set(options):
        fail("give the dataset with --dataset, --data-root and --dataset-opt, not with -o")
    name = dataset or inspect.signature(plugin.train).parameters["dataset"].default
    data = {**(dataset_options(dataset_opt, [name]) or {}), **({"root": str(data_root)} if data_root else {})}
    return {"dataset": name, "dataset_options": data}


@app.command()
def show(what: str = typer.Argument(..., help="a dataset name, or `attack`"),
         name: Optional[str] = typer.Argument(None, help="the attack's name (after `attack`)"),
         out: Optional[Path] = typer.Option(None, help="the PNG to write (default runs/show-<name>.png)"),
         split: str = typer.Option("defender-train", help=", ".join(SPLITS)),
         per_class: int = typer.Option(16, min=1),
         dataset: str = typer.Option("simcam", help="for `show attack`: the dataset"),
         target: Optional[List[str]] = typer.Option(None, help="for `show attack`: target(s), default 3"),
         data_root: Optional[Path] = typer.Option(None, "--data-root")):
    """PNG sheets: `show DATASET` (samples, residuals, spectra per camera and generator) or
    `show attack NAME` (inputs, outputs, differences, residuals, spectra per target)."""
    from .show import attack_sheet, dataset_sheet

    if what == "attack" and not name:
        fail("show attack needs the attack's name, e.g. `spoc-bench show attack spoc`")
    if split not in SPLITS:
        fail(f"--split {split!r}: use one of {', '.join(SPLITS)}")
    out = out or Path("runs") / f"show-{name if what == 'attack' else what}.png"
    check_writable(out, "--out", "file")
    root = {"root": str(data_root)} if data_root else {}
    try:
        data = registry.datasets.build(dataset if what == "attack" else what, **root)
        data.prepare()
        if what == "attack":
            cameras = sorted({s.camera for s in data.samples("attacker") if s.camera})
            targets = split_values(target) or cameras[:3]
            path = attack_sheet(registry.attacks.build(name), data, targets, out)
        else:
            path = dataset_sheet(data, out, split, per_class)
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
                  dataset_opt: Optional[List[str]] = typer.Option(None, "--dataset-opt", help="KEY=VALUE for the dataset"),
                  weights: Optional[str] = typer.Option(None, help="the attack's weights tag"),
                  option: Optional[List[str]] = typer.Option(None, "--option", "-o",
                                                             help="KEY=VALUE for the attack, e.g. psnr=34")):
    """Attack every image of a folder and save each as the target camera saves its files."""
    from .apply import attack_folder
    from .runner import split_spec

    check_writable(output, "--output")
    options = key_values(option, "-o/--option") or {}
    try:
        check_keywords(registry.attacks.get(split_spec(name)[0]).__init__, options,
                       f"-o/--option for attack {split_spec(name)[0]!r}", ("weights", "device"))
        attack = registry.attacks.build_spec(f"{name}:{weights}" if weights else name, **options)
        data_options = {**(dataset_options(dataset_opt, [dataset]) or {}), **({"root": str(data_root)} if data_root else {})}
        data = registry.datasets.build(dataset, **data_options)
        data.prepare()
        manifest = attack_folder(attack, data, target, input, output)
    except (registry.UnknownPluginError, FileNotFoundError, ValueError) as error:
        fail(str(error))
    for entry in manifest["skipped"]:
        typer.echo(f"skipped {entry['file']}: {entry['reason']}", err=True)
    images = manifest["images"]
    mean = sum(r["psnr"] for r in images) / len(images) if images else float("nan")
    typer.echo(f"attacked {len(images)} image(s) towards {target} (mean PSNR {mean:.2f} dB), "
               f"skipped {len(manifest['skipped'])}; wrote {output}/manifest.json")


@app.command()
def detect(name: str = typer.Argument(..., help="a detector, e.g. noiseprint or bondi2017 (NAME:TAG works too)"),
           input: Path = typer.Option(..., "--input", help="folder of images (any size)"),
           weights: Optional[str] = typer.Option(None, help="the detector's weights tag"),
           csv: Optional[Path] = typer.Option(None, "--csv", help="write the scores to this CSV file"),
           option: Optional[List[str]] = typer.Option(None, "--option", "-o",
                                                      help="KEY=VALUE for the detector, e.g. crop=512"),
           dataset: str = typer.Option("simcam", help="where a fitted detector (fingerprints, classifier) learns"),
           data_root: Optional[Path] = typer.Option(None, "--data-root"),
           dataset_opt: Optional[List[str]] = typer.Option(None, "--dataset-opt", help="KEY=VALUE for the dataset"),
           device: str = typer.Option("cpu", help="cpu or cuda")):
    """Score every image of a folder: the predicted class and each class's probability per file."""
    from .detect import detect_folder
    from .images import atomic_write
    from .runner import split_spec

    name, tag = split_spec(name)
    checked_device(device)
    if csv:
        check_writable(csv, "--csv", "file")
    options = key_values(option, "-o/--option") or {}
    try:
        check_keywords(registry.detectors.get(name).__init__, options, f"-o/--option for detector {name!r}",
                       ("weights", "device"))
        data_options = {**(dataset_options(dataset_opt, [dataset]) or {}), **({"root": str(data_root)} if data_root else {})}
        detector = registry.detectors.build_spec(f"{name}:{weights or tag}" if weights or tag else name, device,
                                                 **options)
        if detector.needs_fit:
            data = registry.datasets.build(dataset, **data_options)
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


def read_run(folder: Path):
    """A run folder's per-image rows and manifest (``run.json``, ``{}`` where absent); one error line
    where the folder holds no run."""
    import pandas as pd
    import pyarrow

    from .metrics import ROW_COLUMNS

    rows_file, manifest = folder / "rows.parquet", folder / "run.json"
    if not rows_file.is_file():
        fail(f"{rows_file} not found: is {folder} the output folder of `spoc-bench run`?")
    again = "run `spoc-bench run` again to write it"
    try:
        facts = json.loads(manifest.read_text()) if manifest.is_file() else {}
        if not isinstance(facts, dict) or not isinstance(facts.get("grid", {}), dict):
            raise ValueError("not an object with a grid")
    except ValueError as error:
        fail(f"{manifest} is not the JSON manifest of a run ({error}); {again}")
    try:
        rows = pd.read_parquet(rows_file)
    except (OSError, ValueError, pyarrow.ArrowException) as error:
        fail(f"{rows_file} is not a readable parquet file ({type(error).__name__}: {error}); {again}")
    missing = [column for column in ROW_COLUMNS if column not in rows.columns]
    if missing:
        not_rows(folder, ", ".join(missing))
    return rows, facts


def run_datasets(manifest: dict):
    """The run's datasets by name, built as the run built them (for the attack sheet's inputs)."""
    from .cache import Cache
    from .runner import Session, resolve_grid

    grid = manifest.get("grid", {})
    settings = {key: grid[key] for key in ("data_root", "dataset_options") if grid.get(key) is not None}
    return Session(resolve_grid(None, **settings), Cache(manifest.get("cache"))).dataset


def not_rows(folder: Path, columns) -> None:
    fail(f"{folder / 'rows.parquet'} lacks the column(s) {columns}: it is not the rows of a run; "
         f"run `spoc-bench run` again to write it")


@app.command()
def report(folder: Path = typer.Argument(..., help="a run's output folder"),
           format: str = typer.Option("markdown", "--format", help="what to print: markdown, latex or html (the page's path)"),
           pivot: str = typer.Option("perturbation", help="LaTeX: the key whose values are the columns: "
                                     "perturbation, detector, attack, target or dataset"),
           per_target: bool = typer.Option(False, "--per-target", help="LaTeX: a row per target, not only the pooled ones"),
           metric: Optional[List[str]] = typer.Option(None, "--metric", help="LaTeX: the metrics to tabulate (default all)"),
           label: Optional[str] = typer.Option(None, help="LaTeX: the labels' prefix (default tab:<folder name>)")):
    """Re-render a run's tables, figures and index.html from its per-image rows; print the Markdown,
    (--format latex) the LaTeX, or (--format html) the page's path."""
    from .html import write_report
    from .latex import METRICS, PIVOTS
    from .metrics import summarise
    from .tables import notes, to_markdown, wide, write_tables

    if format not in ("markdown", "latex", "html"):
        fail(f"--format {format!r}: use markdown, latex or html")
    if pivot not in PIVOTS:
        fail(f"--pivot {pivot!r}: use one of {', '.join(PIVOTS)}")
    metrics = split_values(metric)
    unknown = [m for m in metrics or [] if m not in METRICS]
    if unknown:
        fail(f"--metric {', '.join(unknown)}: unknown; use any of {', '.join(METRICS)}")
    rows, manifest = read_run(folder)
    try:
        summary = summarise(rows, seed=manifest.get("grid", {}).get("seed", 0))
    except KeyError as error:
        not_rows(folder, error)
    check_writable(folder, "FOLDER")
    latex = {"pivot": pivot, "per_target": per_target, "metrics": metrics, **({"label": label} if label else {})}
    write_tables(summary, folder, manifest.get("splits"), **latex)
    page = write_report(folder, rows, summary, manifest, run_datasets(manifest))
    if format == "html":
        typer.echo(f"wrote {page} and {folder / 'figures'}/")
    elif format == "latex":
        typer.echo((folder / "summary.tex").read_text(), nl=False)
    else:
        typer.echo(to_markdown(wide(summary), notes(manifest.get("splits"))))


@app.command("compare")
def compare_runs(run_a: Path = typer.Argument(..., help="a run's output folder (A)"),
                 run_b: Path = typer.Argument(..., help="another run's output folder (B)")):
    """The cells that differ between two runs, each with a bootstrap 95% CI of B - A and a verdict.

    The bootstrap is paired on the images both runs measured; significant: the CI excludes 0."""
    from .compare import compare_runs as compare, measures, shown
    from .tables import to_markdown

    cells = []
    for folder in (run_a, run_b):
        rows, _ = read_run(folder)
        try:
            cells.append(measures(rows))
        except KeyError as error:
            not_rows(folder, error)
    table = compare(*cells)
    if not len(table):
        typer.echo(f"no cell differs: the {len(cells[0])} cell metrics of A and B are equal")
        return
    text, shared = shown(table)
    counts = table.verdict.value_counts()
    note = (f"A = {run_a}, B = {run_b}; {len(table)} cell metric(s) differ: "
            + ", ".join(f"{counts[v]} {v}" for v in counts.index)
            + ". Significant: the bootstrap 95% CI of B - A excludes 0.")
    if shared:
        typer.echo("every row: " + ", ".join(f"{key}={value}" for key, value in shared.items()) + "\n")
    typer.echo(to_markdown(text, note), nl=False)


@app.command()
def export(folder: Path = typer.Argument(..., help="a run's output folder"),
           attacked: Path = typer.Option(..., "--attacked", help="the folder to write the attacked images to")):
    """Write a run's attacked images as DIR/<attack>/<target>/<input id> files, with DIR/index.csv.

    Each image is copied from the cache byte for byte; index.csv names its image, input and target."""
    from .export import export_attacked

    rows, _ = read_run(folder)
    check_writable(attacked, "--attacked")
    try:
        index = export_attacked(rows, attacked)
    except (registry.UnknownPluginError, FileNotFoundError, ValueError) as error:
        fail(str(error))
    typer.echo(f"exported {len(index)} attacked image(s) of {index.attack.nunique()} attack(s) to {attacked}/; "
               f"wrote {attacked}/index.csv")


@app.command()
def check(folder: Path = typer.Argument(..., help="a run's output folder (or its summary.csv)"),
          against: Path = typer.Option(..., help="the baseline summary.csv, e.g. reports/smoke.csv"),
          update: bool = typer.Option(False, "--update", help="make the run's summary the new baseline (after "
                                      "listing what moved), for a deliberate change of scores")):
    """Exit non-zero, naming every metric that moved beyond what its two bootstrap CIs allow or went missing."""
    from .check import compare, read_summary, update as rewrite

    current_file = folder if folder.suffix == ".csv" else folder / "summary.csv"
    if update:
        check_writable(against, "--against", "file")
    try:
        current = read_summary(current_file)
        baseline = read_summary(against) if not update or against.exists() else current.iloc[:0]
    except (FileNotFoundError, ValueError) as error:
        fail(str(error))
    problems = compare(current, baseline)
    for problem in problems:
        typer.echo(problem)
    if update:
        rewrite(current_file, against)
        typer.echo(f"updated {against}: now {current_file} ({len(current)} metrics; {len(problems)} of the old "
                   f"baseline's had moved or were missing)")
        return
    if problems:
        typer.secho(f"{len(problems)} metric(s) moved beyond what their CIs allow or are missing", fg=typer.colors.RED,
                    err=True)
        raise typer.Exit(1)
    typer.echo(f"ok: every metric of {against} within what its bootstrap CIs allow")


weights_app = typer.Typer(no_args_is_help=True, help="Import weights that are not ours to ship.")
app.add_typer(weights_app, name="weights")


@weights_app.command("import")
def import_weights(name: str = typer.Argument(..., help="a detector with an importer: noiseprint, wang2020, "
                                                        "gragnaniello2021"),
                   source: Path = typer.Argument(..., help="the upstream release: for noiseprint a clone of "
                                                           "grip-unina/noiseprint (or a folder of .npz); for wang2020 "
                                                           "blur_jpg_prob0.5.pth or blur_jpg_prob0.1.pth "
                                                           "(CNNDetection); for gragnaniello2021 "
                                                           "gandetection_resnet50nodown_{progan,stylegan2}.pth "
                                                           "(GANimageDetection)"),
                   to: Optional[Path] = typer.Option(None, help="destination (default: the weights folder in the cache)")):
    """Convert a detector's official weights to safetensors (its ``import_weights``; TensorFlow
    checkpoints are read without TensorFlow, .pth files with torch.load(weights_only=True))."""
    importers = [n for n in registry.detectors.names() if hasattr(registry.detectors.get(n), "import_weights")]
    if name not in importers:
        fail(f"no importer for {name!r}; importers: {', '.join(importers)}")
    if to:
        check_writable(to, "--to")
    try:
        manifest = registry.detectors.get(name).import_weights(source, to)
    except (OSError, ValueError) as error:
        fail(str(error))
    count = len(manifest["files"])
    tag = ""
    if manifest.get("tag"):  # one network, found by its tag
        aliases = "".join(f" or {name}:{alias}" for alias in manifest.get("aliases", []))
        tag = f"; use it as {name}:{manifest['tag']}{aliases}" + (f" with weights_dir={to}" if to else "")
    typer.echo(f"wrote {count} network{'s' if count != 1 else ''} to {manifest['destination']}{tag}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
