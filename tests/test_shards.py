"""A notebook run split by settings into shards, merged back: the tables are the
concatenation, the figures are drawn again, and shards that cannot belong together are
refused."""
import pandas as pd
import pytest

from editlib.suite import shards


def _shard(folder, settings, model="smollm2-135m", batch_size=2):
    folder.mkdir(parents=True)
    rows, traj = [], []
    for s in settings:
        traj.append({"model": model, "dataset": "d", "seed": 0, "batch_size": batch_size, "setting": s,
                     "n_edits": 0, "perplexity": 30.0, "weight_drift": 0.0, "wall_s": 1.0})
        for n in (2, 4):
            traj.append({**traj[0], "setting": s, "n_edits": n, "perplexity": 30.0 + n, "weight_drift": float(n),
                         "update_norm": 1.0})
            for scope in ("batch", "retention"):
                for case, value in ((1, 100.0), (2, 0.0)):
                    for metric in ("ES", "PS", "NS", "EM"):
                        rows.append({"case_id": case, "metric": metric, "value": value, "model": model,
                                     "dataset": "d", "seed": 0, "setting": s, "batch_size": batch_size,
                                     "n_edits": n, "scope": scope, "wall_s": 2.0})
    pd.DataFrame(rows).to_csv(folder / "04_sequential_editing_m.csv", index=False)
    pd.DataFrame(traj).to_csv(folder / "04_sequential_editing_m_trajectory.csv", index=False)
    (folder / "executed").mkdir()
    (folder / "executed" / "04_sequential_editing_m.ipynb").write_text("{}")
    return folder


def test_merge_concatenates_tables_and_redraws_the_figure(tmp_path):
    a = _shard(tmp_path / "04a", ["MEMIT", "EMMET"])
    b = _shard(tmp_path / "04b", ["AlphaEdit"])
    written = shards.merge(tmp_path / "out", [a, b])
    merged = pd.read_csv(tmp_path / "out" / "04_sequential_editing_m.csv")
    parts = [pd.read_csv(s / "04_sequential_editing_m.csv") for s in (a, b)]
    assert len(merged) == sum(map(len, parts))
    assert list(dict.fromkeys(merged.setting)) == ["MEMIT", "EMMET", "AlphaEdit"]
    traj = pd.read_csv(tmp_path / "out" / "04_sequential_editing_m_trajectory.csv")
    assert set(traj.setting) == {"MEMIT", "EMMET", "AlphaEdit"}
    names = {p.name for p in written}
    assert {"04_sequential_editing_m_curves.png", "04_sequential_editing_m_curves.svg",
            "04_sequential_editing_m_04a.ipynb", "04_sequential_editing_m_04b.ipynb"} <= names


def test_merge_refuses_shards_that_do_not_belong_together(tmp_path):
    a = _shard(tmp_path / "a", ["MEMIT"])
    with pytest.raises(ValueError, match="differ in model"):
        shards.merge(tmp_path / "out", [a, _shard(tmp_path / "b", ["EMMET"], model="gemma3-270m")])
    with pytest.raises(ValueError, match="differ in batch_size"):
        shards.merge(tmp_path / "out", [a, _shard(tmp_path / "c", ["EMMET"], batch_size=4)])
    with pytest.raises(ValueError, match="repeat the setting"):
        shards.merge(tmp_path / "out", [a, _shard(tmp_path / "d", ["MEMIT"])])
    with pytest.raises(FileNotFoundError):
        shards.merge(tmp_path / "out", [tmp_path / "empty"])


def test_merge_joins_a_committed_run_with_a_shard_that_has_a_newer_side_table(tmp_path):
    """A committed run (its main table gzipped, no ``_windows``) joined by a run of a further
    setting that has one: the main tables concatenate, the side table is the new shard's."""
    old = _shard(tmp_path / "old", ["MEMIT"])
    table = old / "04_sequential_editing_m.csv"
    pd.read_csv(table).to_csv(old / "04_sequential_editing_m.csv.gz", index=False)
    table.unlink()
    new = _shard(tmp_path / "04c", ["ENCORE"])
    windows = pd.DataFrame({"model": "smollm2-135m", "dataset": "d", "seed": 0, "batch_size": 2, "setting": "ENCORE",
                            "n_edits": [0, 4], "window": [0, 0], "window NLL": [3.4, 3.5]})
    windows.to_csv(new / "04_sequential_editing_m_windows.csv", index=False)
    shards.merge(tmp_path / "out", [old, new])
    merged = pd.read_csv(tmp_path / "out" / "04_sequential_editing_m.csv")
    assert list(dict.fromkeys(merged.setting)) == ["MEMIT", "ENCORE"]
    assert len(merged) == 2 * len(pd.read_csv(new / "04_sequential_editing_m.csv"))
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "out" / "04_sequential_editing_m_windows.csv"), windows)


def test_merge_refuses_a_shard_without_the_main_table(tmp_path):
    a = _shard(tmp_path / "a", ["MEMIT"])
    b = _shard(tmp_path / "b", ["EMMET"])
    (b / "04_sequential_editing_m.csv").unlink()
    with pytest.raises(FileNotFoundError, match="not in every shard"):
        shards.merge(tmp_path / "out", [a, b])
