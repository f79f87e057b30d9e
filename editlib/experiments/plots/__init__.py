"""Figures drawn with seaborn from tidy tables, the same for a run, a merge of shards and
``python -m editlib.suite.report regenerate``, saved as PNG and SVG.

- **One theme** (:func:`themed`): seaborn's ``paper`` context with 6–7 pt text, figures one
  paper column wide (:data:`COLUMN_WIDTH`, 3.3 in), panels lettered a, b, c, …
- **One palette** (:func:`palette`): a method keeps its colour in every figure; a second or
  third setting of one method gets a darker or lighter shade of it, and its own marker and
  line style, so settings that share a panel never share a colour.
- **editlib's intervals**: the means and 95 % intervals come from
  :func:`~editlib.evaluation.statistics.summarize` (Wilson / BCa); seaborn draws the marks and
  the intervals are passed to it as error bars, never recomputed by it.
- Settings that share an x are **dodged**; a line never bridges a refused solve; the panels
  of one figure share their x range; legends and annotations sit outside the data.
- Rates on their full 0–100 scale; a memorization residual at or below
  :data:`RESIDUAL_FLOOR` is round-off, drawn hollow on a labelled floor.
"""
from .batch import batch_lines, batch_mechanism
from .differences import differences
from .disabling import disabling_scatter
from .rules import layer_shares, preservation_costs, window_differences
from .sequential import sequential_lines
from .single import objective_view, score_bars
from .style import COLUMN_WIDTH, METHOD_COLOURS, RESIDUAL_FLOOR, SCORES, lines, palette, save, save_all, themed

__all__ = ["COLUMN_WIDTH", "METHOD_COLOURS", "RESIDUAL_FLOOR", "SCORES", "themed", "palette", "lines", "save",
           "save_all", "score_bars", "objective_view", "batch_lines", "batch_mechanism", "sequential_lines",
           "differences", "disabling_scatter", "window_differences", "layer_shares", "preservation_costs"]
