"""A writable copy of the session's digits run per test (reviews and re-rankings write into it)."""

import shutil

import pytest


@pytest.fixture
def loop_run(digits_run, tmp_path):
    path = tmp_path / "digits"
    shutil.copytree(digits_run.path, path)
    return path
