"""Pretrained weights the way torchvision and torch-fidelity find them: the user's path, the cache, a download.

:func:`locate_weights` looks for a known weights file (:class:`WeightsFile`)

1. at the path the user gave (a config key such as ``vgg16_weights``), when one is given;
2. in the standard cache, ``$TORCH_HOME/hub/checkpoints/`` (usually ``~/.cache/torch/hub/checkpoints``),
   where torchvision's weights enums and torch-fidelity keep them;
3. else it downloads the file there with torch hub's own downloader (the one behind
   ``torchvision.models.VGG16_Weights.IMAGENET1K_V1.get_state_dict()`` and torch-fidelity's
   ``load_state_dict_from_url``), with a progress bar, checking the SHA-256 prefix in the name.

Offline — ``MASKBENCH_OFFLINE=1`` in the environment, or no network — it raises
:class:`MissingWeightsError` with one line naming the file, its URL and the folder to put it in.
A file whose SHA-256 does not start with the prefix in its name is refused, never used.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import urllib.error
from dataclasses import dataclass
from pathlib import Path

import torch

from maskbench.errors import MissingWeightsError

#: Environment variable that forbids downloads (any value but "", "0", "false", "no").
OFFLINE_ENV: str = "MASKBENCH_OFFLINE"
#: Seconds a download may wait for the network before it counts as offline.
DOWNLOAD_TIMEOUT_S: float = 30.0


@dataclass(frozen=True)
class WeightsFile:
    """A published weights file.

    Attributes
    ----------
    description : str
        What it is, for messages (e.g. ``"torchvision's ImageNet VGG-16"``).
    url : str
        Where its publisher serves it; the file name is the URL's last part and holds the first
        hex digits of its SHA-256 after the last ``-`` (torch hub's convention).
    option : str
        The config key that takes a path to it, for messages.
    hint : str
        Another way out, appended to the error (e.g. ``"or pass --no-inception"``); may be "".
    """

    description: str
    url: str
    option: str
    hint: str = ""

    @property
    def file_name(self) -> str:
        """The file's name: the last part of :attr:`url`.

        Returns
        -------
        str
            E.g. ``"weights-inception-2015-12-05-6726825d.pth"``.
        """
        return self.url.rsplit("/", 1)[1]

    @property
    def sha256_prefix(self) -> str:
        """The first hex digits of the file's SHA-256, as its name carries them.

        Returns
        -------
        str
            The lowercase hex digits after the last ``-`` and before the suffix of
            :attr:`file_name` (e.g. ``"6726825d"``); ``""`` when the name holds none.
        """
        match = re.search(r"-([a-f0-9]+)\.", self.file_name)
        return match.group(1) if match else ""


def cache_folder() -> Path:
    """Torch hub's checkpoints folder, where torchvision and torch-fidelity keep their weights.

    Returns
    -------
    Path
        ``$TORCH_HOME/hub/checkpoints`` (usually ``~/.cache/torch/hub/checkpoints``); it may not
        exist yet.
    """
    return Path(torch.hub.get_dir()) / "checkpoints"


def offline() -> bool:
    """Whether :data:`OFFLINE_ENV` forbids downloads.

    Returns
    -------
    bool
        True when the variable is set to anything but ``""``, ``"0"``, ``"false"`` or ``"no"``
        (any case, spaces ignored).
    """
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks.

    Parameters
    ----------
    path : Path
        An existing file.

    Returns
    -------
    str
        64 lowercase hex digits.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _checked(path: Path, weights: WeightsFile) -> Path:
    """``path`` when its SHA-256 starts with the published prefix, else :class:`MissingWeightsError`."""
    digest = sha256_of(path)
    if not digest.startswith(weights.sha256_prefix):
        raise MissingWeightsError(
            f"{path} has SHA-256 {digest[:8]}…, expected {weights.sha256_prefix}…: it is not {weights.description} "
            f"{weights.file_name}; delete it and download {weights.url} again"
        )
    return path


def _missing(weights: WeightsFile, folder: Path, reason: str) -> MissingWeightsError:
    hint = f"; {weights.hint}" if weights.hint else ""
    return MissingWeightsError(
        f"{weights.description} weights {weights.file_name} are not in {folder} and cannot be downloaded ({reason}): "
        f"download {weights.url} into {folder} (or give its path with {weights.option}){hint}"
    )


def locate_weights(
    weights: WeightsFile, configured: str | os.PathLike | None = None, *, download: bool = True, progress: bool = True
) -> Path:
    """The weights file: the user's path, else the cache, else downloaded into the cache.

    Parameters
    ----------
    weights : WeightsFile
        Which file.
    configured : path-like or None
        The user's path (used as is, never downloaded to); None or "": the cache.
    download : bool
        Allow a download when the file is not cached (also needs :func:`offline` False).
    progress : bool
        Show a progress bar (tqdm, on stderr) while downloading.

    Returns
    -------
    Path
        An existing file whose SHA-256 starts with the prefix of its published name.

    Raises
    ------
    MissingWeightsError
        The file is missing and may not or cannot be downloaded (the one-line message names the
        file, its URL and the folder), or its hash is wrong.
    """
    if configured:
        path = Path(configured).expanduser()
        if not path.is_file():
            raise MissingWeightsError(
                f"{weights.description} weights not found at {path} (given by {weights.option}): download "
                f"{weights.url} there, or leave {weights.option} empty to use {cache_folder()}"
            )
        return _checked(path, weights)
    folder = cache_folder()
    cached = folder / weights.file_name
    if cached.is_file():
        return _checked(cached, weights)
    if not download or offline():
        raise _missing(weights, folder, f"{OFFLINE_ENV} is set" if offline() else "downloads are off")
    _download(weights, cached, progress=progress)
    return cached


def _download(weights: WeightsFile, target: Path, *, progress: bool) -> None:
    """Torch hub's downloader (temporary file, hash check, rename) with a network timeout."""
    target.parent.mkdir(parents=True, exist_ok=True)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        torch.hub.download_url_to_file(
            weights.url, str(target), hash_prefix=weights.sha256_prefix or None, progress=progress
        )
    except (urllib.error.URLError, OSError) as error:
        raise _missing(weights, target.parent, f"no network: {str(error).splitlines()[0]}") from None
    except RuntimeError as error:  # torch hub's hash mismatch
        raise _missing(weights, target.parent, str(error).splitlines()[0]) from None
    finally:
        socket.setdefaulttimeout(previous)
