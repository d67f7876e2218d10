"""Seeding: every computation that draws random numbers starts from a seed recorded in the run."""

from __future__ import annotations

import numpy as np
import torch


def seed_everything(seed: int) -> torch.Generator:
    """Seed torch's and numpy's global generators; returns a torch generator seeded with `seed`."""
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator
