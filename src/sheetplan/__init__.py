"""sheetplan: annual workbooks for school trade unions, checked and rolled up in Python."""

__version__ = "0.1.0"
