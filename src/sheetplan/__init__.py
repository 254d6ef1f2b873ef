"""sheetplan: annual workbooks for school trade unions, checked and rolled up in Python.

``sheetplan.read(path)`` reads and checks one filled workbook (see :mod:`sheetplan.api`, whose ``merge``
rolls many up into DataFrames); pandas is imported only when one is called.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def read(path: Any, layout: Any = "school") -> Any:
    """Read and check one workbook; see :func:`sheetplan.api.read`."""
    from .api import read as _read

    return _read(path, layout)

