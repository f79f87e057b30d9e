"""The experiments the notebooks run (drivers), the tables they write (records) and their
figures (plots)."""
from .drivers import Setting, batch_edits, edit_plan, key_conditioning, layer_sweep, sequential_edits, unedited
from .records import RunRecord, save_table, slug

__all__ = ["Setting", "unedited", "edit_plan", "batch_edits", "key_conditioning", "sequential_edits", "layer_sweep",
           "RunRecord", "save_table", "slug"]
