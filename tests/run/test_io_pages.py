"""Streaming a memory-mapped matrix keeps it out of the process's resident memory, and loses nothing."""

import numpy as np
import pytest

from core.evaluate.explore import drawn_rows
from core.models.probe import capped_rows
from core.run.io import AtomicNpyWriter, release_pages, take_rows


def resident_file_kb() -> int:
    for line in open("/proc/self/status"):
        if line.startswith("RssFile:"):
            return int(line.split()[1])
    raise AssertionError("no RssFile line")


def test_written_and_read_pages_are_released_and_the_data_kept(tmp_path):
    rows, width = 40_000, 512  # 80 MB
    writer = AtomicNpyWriter(tmp_path / "g.npy", (rows, width))
    before = resident_file_kb()
    for start in range(0, rows, 4000):
        writer.array[start:start + 4000] = np.arange(start, start + 4000, dtype=np.float32)[:, None]
        release_pages(writer.array)
    assert resident_file_kb() - before < 20_000, "written pages left resident"
    writer.commit()
    mapped = np.load(tmp_path / "g.npy", mmap_mode="r")
    picked = np.random.default_rng(0).choice(rows, size=5000, replace=False)
    before = resident_file_kb()
    block = take_rows(mapped, picked)
    assert resident_file_kb() - before < 20_000, "a subsample mapped most of the file"
    assert np.array_equal(block[:, 0], picked.astype(np.float32)) and np.all(block[:, -1] == block[:, 0])
    assert np.array_equal(take_rows(np.asarray(mapped), picked[:3]), block[:3]), "plain arrays are indexed as usual"
    view = mapped[1000:3000]  # a slice of the map reads from the right place in the file
    assert np.array_equal(take_rows(view, np.array([0, 1999, -1, 5])), np.asarray(view[[0, 1999, -1, 5]]))
    with pytest.raises(IndexError):
        take_rows(view, np.array([2000]))


def test_capped_rows_and_drawn_rows_are_seeded_subsamples_keeping_what_must_stay():
    rows = np.arange(0, 1000, 3)
    assert np.array_equal(capped_rows(rows, 1000, 0), rows)
    capped = capped_rows(rows, 50, 0)
    assert len(capped) == 50 and set(capped) <= set(rows) and np.all(np.diff(capped) > 0)
    assert np.array_equal(capped, capped_rows(rows, 50, 0)) and not np.array_equal(capped, capped_rows(rows, 50, 1))
    keep = np.zeros(1000, bool)
    keep[::10] = True
    drawn = drawn_rows(1000, keep, 300, seed=0)
    assert len(drawn) == 300 and set(np.flatnonzero(keep)) <= set(drawn)
    assert np.array_equal(drawn_rows(10, None, 300), np.arange(10))
    assert len(drawn_rows(1000, np.ones(1000, bool), 300)) == 1000, "kept rows are never dropped"
