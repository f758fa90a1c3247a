"""Which version answers a request: the candidate for exactly `percent` of every 100.

Why blocks of 100 rather than a coin per request: a share of 10 % has to be measurable on
an edge cluster's one or two pods, and independent coins drift (after 1,000 requests one
standard deviation is already 1 %). Within a block the candidate's positions are drawn at
random, so a client whose requests alternate between two kinds does not send only one
kind to the candidate, as a strict every-tenth counter would.
"""

from __future__ import annotations

import random

BLOCK = 100


class WeightedChoice:
    """`candidate()` is True for `percent` of every BLOCK consecutive calls."""

    def __init__(self, percent: int, seed: int | None = None) -> None:
        if not 0 <= percent <= BLOCK:
            raise ValueError(f"percent must be between 0 and {BLOCK}, got {percent}")
        self.percent = percent
        self._random = random.Random(seed)
        self._block: frozenset[int] = frozenset()
        self._position = BLOCK  # the first call draws the first block

    def candidate(self) -> bool:
        if self._position == BLOCK:
            self._block = frozenset(self._random.sample(range(BLOCK), self.percent))
            self._position = 0
        picked = self._position in self._block
        self._position += 1
        return picked
