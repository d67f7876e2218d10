"""The 2-D map reads rows lazily, fits on a seeded subsample and places the rest with transform."""

import numpy as np
import pytest

from core.config import EmbedConfig, RunConfig
from core.evaluate import embedding
from core.evaluate.embedding import embed_2d, fit_rows, pca_2d
from core.pipeline.stages.embedding import ProjectedRows, map_inputs


class RowsOnly:
    """Has a shape and row indexing, and nothing else: `np.asarray(self)` would fail."""

    def __init__(self, matrix: np.ndarray):
        self.matrix = matrix
        self.shape = matrix.shape
        self.reads = 0

    def __getitem__(self, rows):
        block = self.matrix[rows]
        self.reads = max(self.reads, len(block))
        return block

    def __array__(self, *args, **kwargs):
        raise AssertionError("the whole matrix was materialized")


def two_clusters(n: int, width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    side = rng.integers(0, 2, n)
    rows = rng.normal(size=(n, width)).astype(np.float32)
    rows += 4.0 * side[:, None]  # apart along the diagonal: the first principal component
    return rows, side


def test_fit_rows_is_all_rows_up_to_the_cap_and_a_seeded_subsample_beyond():
    assert np.array_equal(fit_rows(10, 20, 0), np.arange(10))
    chosen = fit_rows(1000, 100, 3)
    assert len(chosen) == 100 and len(np.unique(chosen)) == 100 and np.all(np.diff(chosen) > 0)
    assert np.array_equal(chosen, fit_rows(1000, 100, 3))
    assert not np.array_equal(chosen, fit_rows(1000, 100, 4))


@pytest.mark.parametrize("method", ["pca", "umap"])
def test_rows_outside_the_fit_subsample_land_with_their_cluster(method, monkeypatch):
    monkeypatch.setattr(embedding, "CHUNK_ROWS", 100)
    rows, side = two_clusters(600, 8)
    cfg = EmbedConfig(method=method, fit_rows=150, pca_dims=4)
    source = RowsOnly(rows)
    coords = embed_2d(source, cfg, seed=0)
    assert coords.shape == (600, 2) and coords.dtype == np.float32 and np.isfinite(coords).all()
    assert source.reads <= 150, "read one fit subsample and chunks, never the whole matrix at once"
    # Nearest centroid of the fit rows' clusters classifies every other row correctly.
    chosen = fit_rows(600, 150, 0)
    centroids = np.stack([coords[chosen][side[chosen] == k].mean(axis=0) for k in (0, 1)])
    rest = np.setdiff1d(np.arange(600), chosen)
    nearest = np.argmin(((coords[rest, None, :] - centroids[None]) ** 2).sum(-1), axis=1)
    assert (nearest == side[rest]).mean() > 0.97
    assert np.array_equal(coords, embed_2d(rows, cfg, seed=0)), "same seed, same map, whatever holds the rows"


def test_a_memory_map_gives_the_same_map_as_the_array(tmp_path):
    rows, _ = two_clusters(300, 6)
    np.save(tmp_path / "g.npy", rows)
    mapped = np.load(tmp_path / "g.npy", mmap_mode="r")
    cfg = EmbedConfig(method="pca")
    assert np.array_equal(embed_2d(mapped, cfg, 1), embed_2d(rows, cfg, 1))


def test_single_column_and_tiny_inputs():
    one = embed_2d(np.arange(5, dtype=np.float32)[:, None], EmbedConfig(), 0)
    assert one.shape == (5, 2) and np.all(one[:, 1] == 0)
    tiny = embed_2d(np.random.default_rng(0).normal(size=(3, 4)), EmbedConfig(), 0)  # too few rows for UMAP
    assert tiny.shape == (3, 2) and np.isfinite(tiny).all()


def test_wide_gradients_are_projected_as_rows_are_read():
    rows = np.random.default_rng(0).normal(size=(50, 40)).astype(np.float32)
    config = RunConfig()
    config.embed.max_width = 8
    vectors, source = map_inputs(rows, config)
    assert isinstance(vectors, ProjectedRows) and vectors.shape == (50, 8)
    assert "sparse-projected from 40 to 8" in source
    assert np.allclose(vectors[np.arange(5, 10)], vectors.projector.project(rows[5:10]))
    narrow, source = map_inputs(rows[:, :8], config)
    assert narrow is not None and source == "gradients" and narrow.shape == (50, 8)


def test_input_map_is_the_inputs_pca_fitted_on_a_subsample():
    rows, side = two_clusters(400, 5)
    coords = pca_2d(RowsOnly(rows), 100, seed=0)
    assert coords.shape == (400, 2)
    first = coords[:, 0]
    assert (
        min(np.mean(first[side == 0] < first[side == 1].mean()), np.mean(first[side == 1] > first[side == 0].mean()))
        > 0.9
        or min(np.mean(first[side == 0] > first[side == 1].mean()), np.mean(first[side == 1] < first[side == 0].mean()))
        > 0.9
    )
    assert pca_2d(rows[:, :1], 100, 0).shape == (400, 2)
