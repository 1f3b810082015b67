"""Seeding: every random choice draws from a generator derived from (seed, item keys).

Because an item's generator depends only on the global seed and the item's own keys (its
index, its bin, its attempt number…), results do not depend on the order in which items are
processed nor on the number of worker processes.
"""

from __future__ import annotations

import numpy as np


def item_rng(seed: int, *keys: int) -> np.random.Generator:
    """Generator for one item: PCG64 seeded from ``SeedSequence([seed, *keys])``.

    Parameters
    ----------
    seed : int
        The global seed, ≥ 0.
    *keys : int
        Non-negative integers that name the item (e.g. index, attempt).

    Returns
    -------
    numpy.random.Generator
        A new generator; the same arguments give the same stream on every machine and in
        every process.
    """
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), *map(int, keys)])))
