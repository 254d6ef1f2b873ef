"""Load a layout: the built-in ones, a file by path, the cache, and YAML parsing.

YAML is parsed with a safe loader that refuses duplicate keys (PyYAML would keep the last one silently);
the parsed mapping is then checked and turned into the model by :mod:`sheetplan.layout.check`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ..errors import LayoutError
from .check import check_layout
from .model import Layout


def builtin_dir() -> Path:
    """Folder of the built-in layouts (inside the package, or the repo's ``layouts/``)."""
    packaged = resources.files("sheetplan") / "layouts"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[3] / "layouts"


def builtin_layouts() -> list[str]:
    """Names of the built-in layouts."""
    return sorted(p.stem for p in builtin_dir().glob("*.yaml"))


def builtin_source(name: str) -> str:
    """The YAML text of a built-in layout (what `layout export` prints)."""
    path = builtin_dir() / f"{name}.yaml"
    if not path.is_file():
        raise LayoutError(
            f"没有名为“{name}”的内置版式；可用的有：{', '.join(builtin_layouts())}",
            f"There is no built-in layout named '{name}'; available: {', '.join(builtin_layouts())}",
        )
    return path.read_text(encoding="utf-8")


@dataclass(frozen=True)
class _Cached:
    """A layout loaded from a file, with what the file looked like when it was read."""

    stamp: tuple[int, int]  # (st_mtime_ns, st_size)
    text: str
    layout: Layout
    settled: bool  # the file was already older than RACY_NS when read


# A file changed twice within one tick of the file system's clock (a few milliseconds, up to 2 s on FAT and
# some network shares) can keep its modification time and, when only a figure changes, its size. As long as
# its last write is this recent the cached text is compared again, as git does for "racily clean" files.
RACY_NS = 3_000_000_000

# (resolved path, file name) → the layout last loaded from it. Only the newest version of a file is kept.
_CACHE: dict[tuple[Path, str], _Cached] = {}


def load_layout(name_or_path: str | Path = "school") -> Layout:
    """Load a layout by built-in name or file path, checking it completely.

    Layouts are cached per file, on its resolved path, modification time and size: loading again after the
    file changed reads the new version, and the same relative name in two folders gives two layouts. A
    layout is read-only, so the cached one can be shared.
    """
    key = str(name_or_path)
    path = Path(key)
    if path.suffix.lower() in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise LayoutError(f"找不到版式文件：{key}", f"Layout file not found: {key}")
        return _load_file(path, path.name, key)
    builtin = builtin_dir() / f"{key}.yaml"
    if not builtin.is_file():
        builtin_source(key)  # raises the message that lists the built-in layouts
    return _load_file(builtin, f"{key}.yaml", key)


def _load_file(path: Path, source: str, shown: str) -> Layout:
    """The layout in ``path`` (named ``source`` in messages), from the cache while the file is unchanged."""
    try:
        resolved = path.resolve()
        st = resolved.stat()
    except OSError as exc:
        raise LayoutError(f"版式文件 {shown} 无法读取：{exc}", f"Layout file {shown} cannot be read: {exc}") from exc
    stamp = (st.st_mtime_ns, st.st_size)
    cached = _CACHE.get((resolved, source))
    if cached is not None and cached.stamp == stamp and cached.settled:
        return cached.layout
    try:
        text = resolved.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise LayoutError(
            f"版式文件 {shown} 无法读取（须为 UTF-8 文本）：{exc}",
            f"Layout file {shown} cannot be read (must be UTF-8 text): {exc}",
        ) from exc
    # The stamp was taken before reading: if the file changes in between, the next load sees a new stamp.
    layout = cached.layout if cached is not None and cached.text == text else parse_layout(text, source)
    settled = time.time_ns() - st.st_mtime_ns > RACY_NS
    _CACHE[(resolved, source)] = _Cached(stamp, text, layout, settled)
    return layout


# libyaml's parser when PyYAML has it (ten times faster: it is paid by every command), the pure-Python one otherwise.
_SafeBase = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _UniqueKeyLoader(_SafeBase):  # type: ignore[misc,valid-type]
    """A safe YAML loader that refuses duplicate keys instead of keeping the last."""


def _construct_mapping(loader: Any, node: yaml.MappingNode, deep: bool = False) -> dict:
    """A YAML mapping, refused when a key appears twice (the safe loader would keep the last one silently)."""
    seen: set[Any] = set()
    for key_node, _ in node.value:
        k = loader.construct_object(key_node, deep=deep)
        if k in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key '{k}'", key_node.start_mark
            )
        seen.add(k)
    return yaml.constructor.SafeConstructor.construct_mapping(loader, node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_layout(text: str, source: str = "<layout>") -> Layout:
    """Parse and check layout YAML; raise :class:`LayoutError` naming file and key path."""
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        raise LayoutError(
            f"版式文件 {source} 不是有效的 YAML：{exc}",
            f"Layout file {source} is not valid YAML: {exc}",
        ) from exc
    return check_layout(data, source)
