"""flow.threads: free cores under a load, and thread counts set for a block only."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import pytest
import torch

import flow.threads
from flow.threads import busy_cores, cpu_threads, free_cores, usable_cores


@pytest.mark.parametrize(
    ("cores", "busy", "expected"), [(2, 0.0, 2), (2, 1.0, 1), (2, 0.6, 1), (8, 2.4, 6), (2, 5.0, 1)]
)
def test_free_cores_leaves_the_busy_ones(
    monkeypatch: pytest.MonkeyPatch, cores: int, busy: float, expected: int
) -> None:
    monkeypatch.setattr(flow.threads, "usable_cores", lambda: cores)
    assert free_cores(busy=busy) == expected


@pytest.mark.skipif(not Path("/proc/stat").is_file(), reason="reads /proc/stat")
def test_busy_cores_from_cpu_counters(monkeypatch: pytest.MonkeyPatch) -> None:
    # user, nice, system, idle, iowait ticks of 2 CPUs: 150 ticks pass, 50 of them idle or waiting
    samples = iter([([100, 0, 100, 780, 20], 2), ([150, 0, 150, 820, 30], 2)])
    monkeypatch.setattr(flow.threads, "_cpu_times", lambda: next(samples))
    monkeypatch.setattr(flow.threads.time, "sleep", lambda seconds: None)
    assert busy_cores() == pytest.approx(2 * 100 / 150)


def test_busy_cores_of_this_machine_is_in_range() -> None:
    assert 0.0 <= busy_cores(sample_seconds=0.05) <= max(os.cpu_count() or 1, usable_cores()) + 1e-6


def test_cpu_threads_sets_and_restores(monkeypatch: pytest.MonkeyPatch) -> None:
    torch_before, opencv_before = torch.get_num_threads(), cv2.getNumThreads()
    with cpu_threads(1) as count:
        assert count == 1 and torch.get_num_threads() == 1 and cv2.getNumThreads() == 1
    assert (torch.get_num_threads(), cv2.getNumThreads()) == (torch_before, opencv_before)
    with pytest.raises(RuntimeError), cpu_threads(1):
        raise RuntimeError("boom")
    assert (torch.get_num_threads(), cv2.getNumThreads()) == (torch_before, opencv_before)
    with pytest.raises(ValueError, match="at least 1"), cpu_threads(0):
        pass
