"""Everything that writes xlsx files: the only package that imports xlsxwriter.

``template`` writes a school's annual workbook; ``district`` writes the
district roll-up of a merge.
"""

from .template import Filled, Org, TemplateError, display_width, summary_cells, title_text, write_template

__all__ = ["Filled", "Org", "TemplateError", "display_width", "summary_cells", "title_text", "write_template"]
