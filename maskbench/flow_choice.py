"""Which flow method an extraction uses, and keeping every mask store to one method.

``extract --method auto`` (the default) depends on the device: our TV-L1 where CUDA is
present, else the one CPU method named by ``cpu_method`` in ``configs/extract.toml`` — a
fixed choice made by the benchmarks, never by timing at run time, so the same machine always
gives the same masks. ``--method NAME`` pins the method on every device.

The resolved flow method and the occlusion test form a video's *method tag*
(``"dis+range+median"``), which is part of the store group of every extracted video
(``"clips/a.mp4::dis+range+median"``) and of every mask's provenance. A store started on a
GPU (TV-L1) and resumed on a laptop (DIS) would mix two kinds of masks; :func:`check_one_method`
refuses that unless the user allows it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch

import flow
from maskbench.errors import MixedMethodsError
from maskbench.store import MaskStore

#: The device-dependent choice of ``extract --method``.
AUTO_METHOD = "auto"
#: Separates a video's name from its method tag in a store group.
GROUP_SEPARATOR = "::"
#: End-to-end ``extract`` seconds per frame and per megapixel of working-size frame, for
#: the rough time estimate printed before TV-L1 runs on a CPU. From ``bench/optical_flow.py`` and
#: ``bench/extract.py`` on the 2-core development VM (a 683 × 512 frame is 0.35 Mpx), scaled
#: to a quiet machine; TV-L1 with 2 torch threads, scaled by 2 / threads for other counts.
CPU_SECONDS_PER_MEGAPIXEL: dict[str, float] = {"tvl1": 5.5, "dis": 0.6, "dis-ultrafast": 0.4, "farneback": 0.9}
_MEASURED_THREADS = 2


def resolve_flow_method(method: str, *, cpu_method: str, device: torch.device) -> str:
    """The flow method an extraction runs with.

    Parameters
    ----------
    method : str
        ``"auto"`` or one of :data:`flow.FLOW_METHODS` (returned unchanged).
    cpu_method : str
        What ``"auto"`` means without CUDA: one of :data:`flow.FLOW_METHODS`.
    device : torch.device
        The resolved device of the run (:func:`flow.resolve_device`).

    Returns
    -------
    str
        ``"tvl1"`` for ``"auto"`` on CUDA, ``cpu_method`` for ``"auto"`` elsewhere, else ``method``.
    """
    if method != AUTO_METHOD:
        return method
    return "tvl1" if device.type == "cuda" else cpu_method


def method_tag(method: str, occlusion: str) -> str:
    """The method tag of a flow method and an occlusion test.

    Parameters
    ----------
    method : str
        Resolved flow method, one of :data:`flow.FLOW_METHODS` (these names contain no ``+``,
        so the tag splits back at its first ``+``).
    occlusion : str
        Occlusion test, one of :data:`flow.OCCLUSION_METHODS`.

    Returns
    -------
    str
        ``"METHOD+OCCLUSION"``, e.g. ``"dis+range+median"``.
    """
    return f"{method}+{occlusion}"


def video_group(video_name: str, tag: str) -> str:
    """Store group of one extracted video.

    Parameters
    ----------
    video_name : str
        The video's name as extraction reports it (its path relative to the videos folder).
    tag : str
        Its method tag (:func:`method_tag`).

    Returns
    -------
    str
        ``"NAME::TAG"``, e.g. ``"clips/a.mp4::dis+range+median"``.
    """
    return f"{video_name}{GROUP_SEPARATOR}{tag}"


def group_method_tag(group: str) -> str | None:
    """The method tag of an extraction group, or None for groups not made by ``extract``.

    Parameters
    ----------
    group : str
        A store group (:meth:`MaskStore.groups`).

    Returns
    -------
    str or None
        The part after the last ``"::"`` when it starts with a flow method name, else None
        (e.g. groups of imported masks).
    """
    _, separator, tag = group.rpartition(GROUP_SEPARATOR)
    return tag if separator and tag.split("+", 1)[0] in flow.FLOW_METHODS else None


def store_method_tags(store: MaskStore) -> set[str]:
    """Method tags of every video extracted into ``store`` (also those that gave no masks).

    Parameters
    ----------
    store : MaskStore
        An open store.

    Returns
    -------
    set of str
        Distinct method tags; empty for a new store or one of imported masks only.
    """
    tags = (group_method_tag(group) for group in store.groups())
    return {tag for tag in tags if tag is not None}


def check_one_method(store: MaskStore, tag: str, *, allow_mixed: bool, what: str) -> None:
    """Refuse to add masks of method ``tag`` to a store that holds another method's.

    Parameters
    ----------
    store : MaskStore
        The store about to be appended to.
    tag : str
        Method tag of what would be added (:func:`method_tag`).
    allow_mixed : bool
        Allow it (``--allow-mixed-methods``): then nothing is checked.
    what : str
        How the message names the new masks, e.g. ``"this run (--method auto → dis on cpu)"``.

    Raises
    ------
    MixedMethodsError
        When the store holds videos extracted with another method tag.
    """
    others = sorted(store_method_tags(store) - {tag})
    if others and not allow_mixed:
        raise MixedMethodsError(
            f"{store.path} holds masks made with {', '.join(others)}, but {what} makes {tag}; pin the same "
            "--method/--occlusion, write to another --out, or pass --allow-mixed-methods to mix them"
        )


def check_merge_methods(stores: Sequence[MaskStore], *, allow_mixed: bool) -> None:
    """Refuse to merge stores whose extracted videos use different method tags.

    Parameters
    ----------
    stores : sequence of MaskStore
        The source stores and the output store (which may already hold masks).
    allow_mixed : bool
        Allow it (``--allow-mixed-methods``): then nothing is refused.

    Raises
    ------
    MixedMethodsError
        When the stores (sources and the output) hold more than one method tag, unless
        ``allow_mixed``.
    """
    holders: dict[str, list[str]] = {}
    for store in stores:
        for tag in store_method_tags(store):
            holders.setdefault(tag, []).append(store.path.name)
    if len(holders) > 1 and not allow_mixed:
        held = "; ".join(f"{tag} in {', '.join(names)}" for tag, names in sorted(holders.items()))
        raise MixedMethodsError(
            f"these stores hold masks of different methods ({held}); merge stores of one method, "
            "or pass --allow-mixed-methods to mix them"
        )


def expected_seconds(method: str, *, frames: int, megapixels: float, threads: int) -> float:
    """Rough end-to-end time of extracting ``frames`` frames on the CPU.

    Parameters
    ----------
    method : str
        A flow method, a key of :data:`CPU_SECONDS_PER_MEGAPIXEL`.
    frames : int
        Frames to extract, ≥ 0.
    megapixels : float
        Size of one frame at the working size, Mpx.
    threads : int
        Torch threads TV-L1 runs with (other methods ignore it); < 1 counts as 1.

    Returns
    -------
    float
        Seconds, ≥ 0: :data:`CPU_SECONDS_PER_MEGAPIXEL` × megapixels × frames, for TV-L1
        scaled by 2 / ``threads``.
    """
    scale = _MEASURED_THREADS / max(threads, 1) if method == "tvl1" else 1.0
    return CPU_SECONDS_PER_MEGAPIXEL[method] * megapixels * frames * scale


def slow_cpu_notice(*, frames: int, working_size: int, threads: int, cpu_method: str) -> str:
    """The one-line notice printed before TV-L1 runs on a CPU: expected time and the faster choice.

    Frames are taken as 4:3 at the working size (shorter side ``working_size``).

    Parameters
    ----------
    frames : int
        Frames the run will read.
    working_size : int
        Shorter side of the frames the flow runs on, px.
    threads : int
        Torch threads TV-L1 will run with.
    cpu_method : str
        The CPU method ``--method auto`` picks without a GPU, suggested instead.

    Returns
    -------
    str
        One line, e.g. ``"TV-L1 on the CPU (2 of 8 cores): expect about 12 min for 200 frames ..."``.
    """
    megapixels = working_size * working_size * 4 / 3 / 1e6
    slow = expected_seconds("tvl1", frames=frames, megapixels=megapixels, threads=threads)
    fast = expected_seconds(cpu_method, frames=frames, megapixels=megapixels, threads=threads)
    cores = os.cpu_count() or 1
    return (
        f"TV-L1 on the CPU ({threads} of {cores} cores): expect about {_duration(slow)} for {frames} frames "
        f"({slow / max(frames, 1):.1f} s/frame); --method {cpu_method}, what --method auto picks without a GPU, "
        f"takes about {_duration(fast)}. TV-L1 is meant for a GPU (--device cuda)."
    )


def _duration(seconds: float) -> str:
    """``"40 s"``, ``"12 min"`` or ``"3.5 h"``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
