"""Load a layout: the built-in ones, a file by path, the cache, and YAML parsing.

YAML is parsed with a safe loader that refuses duplicate keys (PyYAML would keep the last one silently);
the parsed mapping is then checked and turned into the model by :mod:`sheetplan.layout.check`. A file that
is not valid YAML is refused with a message in the user's words naming the file, the line and the column.

**Edited copies of a built-in layout.** A district edits a copy of ``school`` (``layout export``), and the
copy used to keep ``id: school, version: 1``: its workbooks could not be told from the built-in layout's.
The decision:

* Every layout carries a content fingerprint (:attr:`Layout.fingerprint`, see
  :func:`~sheetplan.layout.check.layout_fingerprint`). It is what tells two editions apart, whatever their
  ids say: the template records it in the workbook's identity, and a merge lists it per file.
* ``layout export`` writes :func:`export_source`: the built-in text plus a line ``derived_from: school@1``
  and a comment asking to give the copy its own id. ``derived_from`` is not part of the fingerprint, so an
  exported copy nobody edited is still, by fingerprint, the built-in layout.
* A file that keeps a built-in layout's id while its fingerprint differs from that layout's is **loaded, with
  a notice** (:attr:`Layout.notices`) that the commands show, not refused. Refusing would stop, in the middle
  of a year, every district that already sent out templates made from such a copy (their workbooks carry that
  id, and renaming the layout would make the reader refuse them as another layout's); the fingerprint
  already keeps the editions apart, so a warning that says what to do before the next templates is enough.
"""

from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ..errors import LayoutError
from .check import DERIVED_FROM_KEY, check_layout, layout_fingerprint
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


def export_source(name: str) -> str:
    """The YAML text ``layout export`` prints: the built-in layout, marked as the source of an edited copy.

    A line ``derived_from: <id>@<version>`` follows ``version:``, and a comment above ``id:`` asks the district
    to give its copy an id of its own. Loaded unchanged, the text is the built-in layout (same fingerprint).
    """
    text = builtin_source(name)
    data = _load_yaml(text, f"{name}.yaml")
    if not isinstance(data, dict) or DERIVED_FROM_KEY in data:
        return text
    origin = f"{DERIVED_FROM_KEY}: {data.get('id')}@{data.get('version')}"
    note = ("# 修改本文件后，请把 id 改成本区自己的名称（小写英文字母、数字、下划线），再生成模板；\n"
            f"# {DERIVED_FROM_KEY} 记录它由哪个内置版式改来，请保留。\n"
            "# After editing, give `id` a name of your own (lower-case letters, digits, _) before making templates;\n"
            f"# keep `{DERIVED_FROM_KEY}`: it records which built-in layout this copy came from.\n")
    version = re.search(r"^version:[^\n]*\n", text, re.M)
    ident = re.search(r"^id:", text, re.M)
    if version is None or ident is None or ident.start() > version.start():
        return text.rstrip("\n") + f"\n{origin}\n"
    return text[:ident.start()] + note + text[ident.start():version.end()] + origin + "\n" + text[version.end():]


@dataclass(frozen=True)
class _BuiltinPrint:
    """A built-in layout's version and fingerprint, with the file's (mtime, size) they were read at."""

    stamp: tuple[int, int]
    version: int | None
    fingerprint: str


_BUILTIN_PRINTS: dict[str, _BuiltinPrint] = {}


def _builtin_print(layout_id: str) -> _BuiltinPrint | None:
    """Version and fingerprint of the built-in layout called ``layout_id``, or None when there is none."""
    path = builtin_dir() / f"{layout_id}.yaml"
    try:
        st = path.stat()
    except OSError:
        return None
    stamp = (st.st_mtime_ns, st.st_size)
    known = _BUILTIN_PRINTS.get(layout_id)
    if known is None or known.stamp != stamp:
        data = _load_yaml(path.read_text(encoding="utf-8-sig"), path.name)
        version = data.get("version") if isinstance(data, dict) else None
        known = _BuiltinPrint(stamp, version if isinstance(version, int) else None, layout_fingerprint(data))
        _BUILTIN_PRINTS[layout_id] = known
    return known


def _identity_notices(layout: Layout, source: str) -> tuple[tuple[str, str], ...]:
    """The notice for a file that keeps a built-in layout's id while differing from it (see the module's text)."""
    builtin = _builtin_print(layout.id)
    if builtin is None or builtin.fingerprint == layout.fingerprint:
        return ()
    origin = f"{layout.id}@{builtin.version}" if builtin.version else layout.id
    add_zh = "" if layout.derived_from else f"，并加上一行 {DERIVED_FROM_KEY}: {origin}"
    add_en = "" if layout.derived_from else f" and add the line {DERIVED_FROM_KEY}: {origin}"
    zh = (f"版式文件 {source} 仍使用内置版式的标识“id: {layout.id}”，但内容与内置版式不同"
          f"（本文件指纹 {layout.fingerprint}，内置版式 {origin} 为 {builtin.fingerprint}）。"
          f"用它生成的工作簿，在汇总时看起来就像内置版式的工作簿。请在生成新模板之前，把 id 改成本区自己的名称"
          f"（小写英文字母、数字、下划线，例如 {layout.id}_district）{add_zh}。")
    en = (f"Layout file {source} keeps the id of the built-in layout (id: {layout.id}) but its content differs "
          f"(this file's fingerprint {layout.fingerprint}, built-in {origin}: {builtin.fingerprint}). Workbooks made "
          f"with it look like workbooks of the built-in layout in a merge. Before making new templates, give it an "
          f"id of your own (lower-case letters, digits, _; e.g. {layout.id}_district){add_en}.")
    return ((zh, en),)


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
    """Parse and check layout YAML; raise :class:`LayoutError` naming file and key path (or line and column).

    A layout that keeps a built-in layout's id while differing from it comes back with a notice
    (:attr:`Layout.notices`), not refused: see the module's text.
    """
    layout = check_layout(_load_yaml(text, source), source)
    notices = _identity_notices(layout, source)
    return dataclasses.replace(layout, notices=notices) if notices else layout


def _load_yaml(text: str, source: str) -> Any:
    """The mapping ``text`` holds; a YAML error becomes a :class:`LayoutError` in the user's words."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        raise yaml_error(exc, text, source) from exc


# What PyYAML's messages (pure Python and libyaml word them differently) mean, for a person editing a file by hand:
# (pattern on context + problem, Chinese, English, whether the message points where the bracket or quote opened).
# The first that matches is used. ``{opened}``/``{found}`` are positions: where it opened, where parsing gave up.
_YAML_EXPLAINED: tuple[tuple[str, str, str, bool], ...] = (
    (r"duplicate key '(?P<key>.*)'",
     "键“{key}”在同一层出现了两次。同一层的每个键只能写一次，请删去或合并其中一个。",
     "the key '{key}' appears twice at the same level. Each key may appear once: remove or merge one of them.", False),
    (r"mapping values are not allowed",
     "这里不能出现“冒号加空格”。常见原因：一段文字里含有“: ”（请给这段文字加上引号），或者这一行的缩进不对。",
     "a colon followed by a space is not allowed here. Usually a text contains ': ' (put the text in quotes), "
     "or the line is indented wrongly.", False),
    (r"(expected <block end>|did not find expected key|did not find expected '-' indicator)",
     "缩进没有对齐：这一行前面的空格数与上面同一层的行不一样。同一层的行要用相同数目的空格开头。",
     "the indentation does not line up: this line starts with a different number of spaces than the lines "
     "above it at the same level.", False),
    (r"found character .*cannot start any token", "{char_zh}", "{char_en}", False),
    (r"flow sequence.*(expected ',' or '\]'|did not find expected ',' or '\]')",
     "这里开始的方括号 [ ] 列表，到{found}还没有正确结束：可能少了右方括号“]”，或者两项之间少了英文逗号“,”（中文逗号“，”不算）。",
     "the list in [ ] that opens here is still not closed properly at {found_en}: a ']' is missing, "
     "or a comma ',' between two items.", True),
    (r"flow mapping.*(expected ',' or '\}'|did not find expected ',' or '\}')",
     "这里开始的花括号 {{ }}，到{found}还没有正确结束：可能少了右花括号“}}”，或者两项之间少了英文逗号“,”（中文逗号“，”不算）。",
     "the mapping in {{ }} that opens here is still not closed properly at {found_en}: a '}}' is missing, "
     "or a comma ',' between two items.", True),
    (r"quoted scalar",
     "引号没有配对：这里开始的引号，到{found}还没有结束。",
     "a quote is never closed: the one that opens here is still open at {found_en}.", True),
    (r"could not find expected ':'",
     "找不到应有的冒号“:”：这一行少了“键: 值”中的冒号，或者一段文字被断成了两行（请把它写在一行里，或加上引号）。",
     "an expected ':' is missing: this line lacks the colon of 'key: value', or a text was broken across two lines "
     "(keep it on one line, or put it in quotes).", True),
    (r"(node content|unexpected end of stream)",
     "文件在这里意外结束：可能少了右方括号“]”或右花括号“}}”，或者引号没有配对。",
     "the file ends unexpectedly here: a ']' or '}}' is missing, or a quote is not closed.", False),
    (r"undefined alias",
     "以“*”开头的文字会被当作引用，但这里引用的名称没有定义。如果这是普通文字，请给它加上引号。",
     "a text starting with '*' is read as a reference to something not defined. If it is plain text, quote it.", False),
    (r"\btag\b",
     "这里有版式文件不能使用的标记（以“!”开头），请删去它。",
     "there is a tag (starting with '!') that a layout file may not use: remove it.", False),
)


def _position(mark: Any) -> tuple[int, int] | None:
    """(line, column), both from 1, of a PyYAML mark."""
    return (mark.line + 1, mark.column + 1) if mark is not None else None


def yaml_error(exc: yaml.YAMLError, text: str, source: str) -> LayoutError:
    """A :class:`LayoutError` for a YAML syntax error: file, line and column, what is wrong in plain words, the line.

    Both languages are carried; PyYAML's own (English, technical) text is kept only when no plain explanation fits.
    For a bracket, quote or key left open, the position is where it opened, which is where the mistake is, and the
    message says how far the text went on before the parser gave up.
    """
    problem = str(getattr(exc, "problem", None) or exc)
    context = str(getattr(exc, "context", None) or "")
    found_at = _position(getattr(exc, "problem_mark", None))
    opened_at = _position(getattr(exc, "context_mark", None))
    explained = next(((m, z, e, at_open) for pattern, z, e, at_open in _YAML_EXPLAINED
                      if (m := re.search(pattern, f"{context} {problem}", re.S))), None)
    at = (opened_at or found_at) if explained and explained[3] else (found_at or opened_at)
    lines = text.splitlines()
    shown = lines[at[0] - 1] if at and at[0] <= len(lines) else ""
    char = shown[at[1] - 1] if at and shown and at[1] <= len(shown) else ""
    if char == "\t":
        char_zh = "这里有制表符（Tab 键）。YAML 只能用空格缩进，请把 Tab 换成空格。"
        char_en = "there is a tab character here. YAML is indented with spaces only: replace the tab with spaces."
    else:
        char_zh = f"字符{'“' + char + '”' if char else ''}不能出现在一段文字的开头（如 @ ` % 等），请给这段文字加上引号。"
        char_en = f"the character {repr(char) if char else ''} cannot start a text (like @ ` %): put the text in quotes."
    if explained:
        match, z, e, _ = explained
        values = {"key": match.groupdict().get("key") or "", "char_zh": char_zh, "char_en": char_en,
                  "found": f"第 {found_at[0]} 行第 {found_at[1]} 列" if found_at else "文件末尾",
                  "found_en": f"line {found_at[0]}, column {found_at[1]}" if found_at else "the end of the file"}
        zh, en = z.format(**values), e.format(**values)
    else:
        zh = en = f"{context} {problem}".strip()
    quoted = shown.strip()
    if len(quoted) > 60:
        quoted = quoted[:60] + "…"
    line_zh = f"这一行是：“{quoted}”。" if quoted else ""
    line_en = f" The line reads: “{quoted}”." if quoted else ""
    where_zh = f" 第 {at[0]} 行第 {at[1]} 列：" if at else " "
    where_en = f", line {at[0]}, column {at[1]}" if at else ""
    return LayoutError(f"版式文件 {source}{where_zh}YAML 格式错误。{zh}{line_zh}",
                       f"Layout file {source}{where_en}: YAML syntax error: {en}{line_en}")
