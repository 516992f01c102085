"""Plugin registries: one per kind, filled by decorators, listed without importing any plugin.

``spoc-bench list`` must not load torch models, so a registry finds its plugins by reading the
source of the modules in its package (``@register_detector("name")`` on a class, the class
docstring's first line as the description) and imports a module only when one of its plugins is
built. Third-party packages add plugins through the entry-point group ``spoc_bench.<kind>s``
(``name = "module:Class"``).
"""

from __future__ import annotations

import ast
import difflib
import fnmatch
import importlib
import importlib.metadata
import importlib.util
from dataclasses import dataclass
from pathlib import Path


class UnknownPluginError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


class DuplicatePluginError(ValueError):
    pass


@dataclass(frozen=True)
class Entry:
    name: str
    module: str
    summary: str


class Registry:
    def __init__(self, kind: str, package: str):
        self.kind, self.package = kind, package
        self._classes: dict[str, type] = {}
        self._index: dict[str, Entry] | None = None

    def register(self, name: str):
        """Class decorator: ``@register_detector("noiseprint")``."""

        def decorate(cls: type) -> type:
            known = self._classes.get(name)
            if known is not None and known.__qualname__ != cls.__qualname__:
                raise DuplicatePluginError(
                    f"{self.kind} {name!r} is registered twice: {known.__module__}.{known.__qualname__}"
                    f" and {cls.__module__}.{cls.__qualname__}"
                )
            cls.name = name
            self._classes[name] = cls
            return cls

        return decorate

    def index(self) -> dict[str, Entry]:
        if self._index is None:
            self._index = {}
            for entry in [*self._scan_package(), *self._scan_entry_points()]:
                self._add(entry)
        return self._index

    def _add(self, entry: Entry) -> None:
        known = self._index.get(entry.name)
        if known is not None:
            raise DuplicatePluginError(
                f"{self.kind} {entry.name!r} is declared twice: in {known.module} and in {entry.module}"
            )
        self._index[entry.name] = entry

    def _scan_package(self):
        spec = importlib.util.find_spec(self.package)
        decorator = f"register_{self.kind}"
        for folder in spec.submodule_search_locations or []:
            for path in sorted(Path(folder).glob("*.py")):
                if path.name.startswith("_"):
                    continue
                module = f"{self.package}.{path.stem}"
                for name, summary in _declared_plugins(path, decorator):
                    yield Entry(name, module, summary)

    def _scan_entry_points(self):
        for point in importlib.metadata.entry_points(group=f"spoc_bench.{self.kind}s"):
            yield Entry(point.name, point.value.split(":")[0], f"(from {point.value})")

    def names(self, pattern: str = "*") -> list[str]:
        return sorted(name for name in self.index() if fnmatch.fnmatch(name, pattern))

    def get(self, name: str) -> type:
        if name not in self._classes:
            entry = self.index().get(name)
            if entry is None:
                raise UnknownPluginError(self._unknown_message(name))
            importlib.import_module(entry.module)
            if name not in self._classes:
                raise UnknownPluginError(f"{entry.module} declares {self.kind} {name!r} but did not register it")
        return self._classes[name]

    def build(self, name: str, **params):
        return self.get(name)(**params)

    def build_spec(self, spec: str, device: str | None = None, **params):
        """The plugin ``spec`` names (``name``, ``name:tag``, the tag being its weights, and options,
        each after a colon: ``name:key=value:key=value``), built with ``params`` and the spec's
        options, on ``device`` where the plugin has one."""
        import inspect

        name, tag, options = parse_spec(spec)
        keywords = inspect.signature(self.get(name).__init__).parameters
        if tag:
            if "weights" not in keywords:
                raise ValueError(f"{self.kind} {spec!r}: {name!r} has no weights, so no tag after ':' "
                                 f"(give it as {name!r}; options as KEY=VALUE)")
            params = {**params, "weights": tag}
        known = sorted(set(keywords) - {"self", "weights", "device"})
        for key in options:
            if key not in known:
                raise ValueError(f"{self.kind} {spec!r}: {name!r} has no option {key!r}; its options are "
                                 f"{', '.join(known) or 'none'} (weights go in the tag, the device in --device)")
        plugin = self.build(name, **{**params, **options})
        if device is not None and hasattr(plugin, "device"):
            plugin.device = device
        return plugin

    def _unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(name, self.names(), n=3, cutoff=0.5)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        return f"unknown {self.kind} {name!r}.{hint} Known: {', '.join(self.names()) or 'none'}."


def split_spec(spec: str) -> tuple[str, str | None]:
    """``"noiseprint:grip"`` -> ("noiseprint", "grip"): a plugin name and an optional weights tag."""
    name, tag, _ = parse_spec(spec)
    return name, tag


def parse_spec(spec: str) -> tuple[str, str | None, dict]:
    """A plugin name, an optional weights tag and options: ``"spoc:simcam:psnr=30"`` -> ("spoc",
    "simcam", {"psnr": 30}); ``"pgd-white-box:psnr=32:steps=20"`` -> ("pgd-white-box", None, {"psnr":
    32, "steps": 20}). After the name, each ':' part is an option ``KEY=VALUE`` (the value read as a
    YAML scalar) or, once at most, the tag."""
    import yaml

    name, *parts = spec.split(":")
    tags = [part for part in parts if part and "=" not in part]
    if len(tags) > 1:
        raise ValueError(f"{spec!r}: expected NAME[:TAG][:KEY=VALUE]... with one weights tag at most")
    options = {}
    for part in (part for part in parts if "=" in part):
        key, _, value = part.partition("=")
        if not key.strip():
            raise ValueError(f"{spec!r}: option {part!r} is not KEY=VALUE (e.g. {name}:psnr=32:steps=20)")
        try:
            options[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise ValueError(f"{spec!r}: option {part!r} has no valid value (a number, text or true/false)") from None
    return name, (tags[0] if tags else None), options


def _declared_plugins(path: Path, decorator: str):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        for call in node.decorator_list:
            function = getattr(call, "func", None)
            function_name = getattr(function, "id", None) or getattr(function, "attr", None)
            if function_name == decorator and call.args and isinstance(call.args[0], ast.Constant):
                doc = ast.get_docstring(node) or ""
                yield call.args[0].value, (doc.strip().splitlines() or [""])[0]


attacks = Registry("attack", "spoc_bench.attacks")
detectors = Registry("detector", "spoc_bench.detectors")
datasets = Registry("dataset", "spoc_bench.datasets")

register_attack = attacks.register
register_detector = detectors.register
register_dataset = datasets.register
