"""One interface for every inpainter: ``load_inpainter(spec)`` → ``inpainter(image, hole)``.

Specs
-----
============================  ==============================================================
``patchmatch``                PatchMatch completion (:mod:`maskbench.models.patchmatch`), CPU
``telea``, ``ns``             OpenCV's Telea / Navier–Stokes fills (:mod:`~maskbench.models.classical`), CPU
``pconv:PATH``                ``PConvUNet`` weights: a maskbench checkpoint or a bare state dict
``conv:PATH``                 ``ConvUNet`` weights, likewise
``pconv:random``              an untrained, seeded He-initialised ``PConvUNet``: for speed tests only
``conv:random``               an untrained ``ConvUNet``: for speed tests only
``PATH``                      a maskbench checkpoint (``maskbench train``), which names its architecture
``torchscript:PATH``          a TorchScript module ``model(image, valid_mask) -> image`` (see below)
``package.module:NAME``       ``NAME`` in a module importable from ``sys.path`` or from the
                              current folder: a ``torch.nn.Module`` instance (same call as
                              TorchScript), an :class:`Inpainter`, or any other callable
                              ``fn(image, hole) -> image`` on one numpy image
``path/to/file.py:NAME``      ``NAME`` in a Python file (loaded as a module), as above
============================  ==============================================================

Torch models (``kind == "torch"``) are called on batches on their device:
``model(image, valid_mask)`` with ``image`` (B, 3, H, W) float32 in [0, 1] and ``valid_mask``
(B, 1, H, W) float32, 1 = valid; they return (B, 3, H, W). CPU inpainters (``kind == "cpu"``)
take one (H, W, 3) float32 image and an (H, W) bool hole; they are picklable (only the spec
travels; the function is imported again in the worker).

Whatever the model returns, the inpainter clamps it to [0, 1] and composites it: pixels
outside the hole are the input's, bit for bit.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from flow.device import resolve_device
from maskbench.checks import check_image_and_hole, check_image_and_hole_batch
from maskbench.compositing import composite
from maskbench.errors import ConfigError, InputError
from maskbench.images import to_torch_batch
from maskbench.models.checkpoints import CHECKPOINT_FORMAT, existing_file, file_sha256, load_unet, read_checkpoint

Kind = Literal["torch", "cpu"]
NumpyFill = Callable[[np.ndarray, np.ndarray], np.ndarray]

_BUILTIN_CPU: dict[str, str] = {
    "patchmatch": "maskbench.models.patchmatch:inpaint_patchmatch",
    "telea": "maskbench.models.classical:inpaint_telea",
    "ns": "maskbench.models.classical:inpaint_ns",
}
_DISPLAY_NAMES = {"patchmatch": "PatchMatch", "telea": "Telea", "ns": "Navier-Stokes", "pconv": "PConv", "conv": "Conv"}
_CALLABLE_SPEC = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w.]*$")
_FILE_CALLABLE_SPEC = re.compile(r"^(?P<file>.+\.py):(?P<name>[A-Za-z_][\w.]*)$")
SPEC_HELP = (
    "expected one of: patchmatch, telea, ns, pconv:PATH, conv:PATH, pconv:random, conv:random, "
    "a maskbench checkpoint PATH, torchscript:PATH, module:NAME (a module in the current folder or "
    "installed), path/to/file.py:NAME"
)
_KNOWN_WORDS = (*_BUILTIN_CPU, "pconv:random", "conv:random", "pconv:PATH", "conv:PATH", "torchscript:PATH")


class Inpainter:
    """An inpainting method behind one call: ``inpainter(image, hole) -> image``.

    The call (:meth:`__call__`) takes one numpy image or a torch batch and returns the
    composite: pixels outside the hole are the input's exactly, pixels inside are the method's
    fill clamped to [0, 1]. Made by :func:`load_inpainter`.

    Attributes
    ----------
    name : str
        Short name for tables (``"PConv"``, ``"Telea"``, ...).
    kind : {"torch", "cpu"}
        ``"torch"``: batched on ``device``; ``"cpu"``: one image at a time, picklable, meant to
        run in worker processes.
    spec : str
        The spec it was loaded from; ``load_inpainter(spec)`` builds it again.
    checkpoint_sha256 : str or None
        SHA-256 of the weights file, None when there is none.
    """

    name: str
    kind: Kind
    spec: str
    checkpoint_sha256: str | None

    def __call__(self, image: np.ndarray | torch.Tensor, hole: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Inpaint one numpy image or a torch batch.

        Parameters
        ----------
        image : numpy.ndarray or torch.Tensor
            float32 RGB in [0, 1]: (H, W, 3) numpy or (B, 3, H, W) torch.
        hole : numpy.ndarray or torch.Tensor
            bool, True = missing: (H, W) numpy or (B, 1, H, W) torch on ``image``'s device.

        Returns
        -------
        numpy.ndarray or torch.Tensor
            Same type, shape, dtype and device as ``image``; pixels outside the hole equal the
            input's exactly, pixels inside are the method's fill clamped to [0, 1].

        Raises
        ------
        InputError
            ``image`` or ``hole`` of the wrong type, dtype, shape, range or device
            (:mod:`maskbench.checks`), or a model output of the wrong shape.
        """
        if isinstance(image, np.ndarray):
            check_image_and_hole(image, hole)
            return self._fill_numpy(image, hole)
        if isinstance(image, torch.Tensor):
            check_image_and_hole_batch(image, hole)
            return self._fill_torch(image, hole)
        raise InputError(f"image must be a numpy array or a torch tensor, got {type(image).__name__}")

    def _fill_numpy(self, image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _fill_torch(self, image: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(spec={self.spec!r}, kind={self.kind!r})"


class CpuInpainter(Inpainter):
    """A per-image numpy function ``fill(image, hole) -> image``, re-imported from ``target`` when unpickled.

    Parameters
    ----------
    spec : str
        The spec (kept for :func:`load_inpainter`).
    target : str
        ``"package.module:function"`` of the fill function.
    name : str
        Name for tables.
    """

    kind: Kind = "cpu"

    def __init__(self, spec: str, target: str, *, name: str) -> None:
        self.spec = spec
        self.target = target
        self.name = name
        self.checkpoint_sha256 = None
        self._function: NumpyFill | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"spec": self.spec, "target": self.target, "name": self.name}

    def __setstate__(self, state: dict[str, Any]) -> None:
        # mypy flags __init__ on an instance; here it rebuilds exactly this class from its pickled state
        self.__init__(state["spec"], state["target"], name=state["name"])  # type: ignore[misc]

    @property
    def function(self) -> NumpyFill:
        """The fill function, imported on first use.

        Returns
        -------
        callable
            ``fill(image, hole) -> image`` on one (H, W, 3) float32 image and its (H, W) bool hole.
        """
        if self._function is None:
            self._function = _import_object(self.target)
        return self._function

    def _fill_numpy(self, image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        filled = np.asarray(self.function(image, hole))
        if filled.shape != image.shape:
            raise InputError(f"inpainter {self.spec!r} returned shape {filled.shape}, expected {image.shape}")
        return composite(np.clip(filled.astype(np.float32), 0.0, 1.0), image, hole)

    def _fill_torch(self, image: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
        if image.shape[0] == 0:
            return image.clone()
        images = image.detach().permute(0, 2, 3, 1).cpu().numpy()
        holes = hole.detach()[:, 0].cpu().numpy()
        filled = [self._fill_numpy(one_image, one_hole) for one_image, one_hole in zip(images, holes, strict=True)]
        return to_torch_batch(filled, image.device).contiguous()


class TorchInpainter(Inpainter):
    """A torch module ``model(image, valid_mask) -> image`` run in eval mode without gradients.

    It runs in float32 (channels-last memory on CUDA); batches are the caller's.

    Parameters
    ----------
    model : torch.nn.Module
        Takes (B, 3, H, W) float32 images in [0, 1] and (B, 1, H, W) float32 validity masks.
    spec, name : str
        The spec and the name for tables.
    device : str, torch.device or None
        Where to run; ``None``: CUDA when present, else the CPU.
    checkpoint_sha256 : str or None
        Hash of the weights file.
    """

    kind: Kind = "torch"

    def __init__(
        self,
        model: nn.Module,
        *,
        spec: str,
        name: str,
        device: str | torch.device | None = None,
        checkpoint_sha256: str | None = None,
    ) -> None:
        self.device = resolve_device(device)
        self.memory_format = torch.channels_last if self.device.type == "cuda" else torch.contiguous_format
        self.model = model.to(self.device, memory_format=self.memory_format).eval()
        self.spec = spec
        self.name = name
        self.checkpoint_sha256 = checkpoint_sha256

    @torch.inference_mode()
    def _fill_torch(self, image: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
        on_device = image.to(self.device).contiguous(memory_format=self.memory_format)
        hole_on_device = hole.to(self.device)
        valid_mask = (~hole_on_device).to(torch.float32)
        output = self.model(on_device, valid_mask)
        if not isinstance(output, torch.Tensor) or output.shape != image.shape:
            shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
            raise InputError(
                f"model of {self.spec!r} returned {shape}, expected a tensor of shape {tuple(image.shape)}"
            )
        filled = output.float().clamp(0.0, 1.0).to(image.device)
        return composite(filled, image, hole)

    def _fill_numpy(self, image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        filled = self._fill_torch(to_torch_batch([image], "cpu"), to_torch_batch([hole], "cpu"))
        return filled[0].permute(1, 2, 0).numpy()


class _NamedInpainter(Inpainter):
    """A user's :class:`Inpainter` instance, kept under the spec that named it."""

    def __init__(self, inner: Inpainter, spec: str) -> None:
        self.inner = inner
        self.spec = spec
        self.name = inner.name
        self.kind = inner.kind
        self.checkpoint_sha256 = inner.checkpoint_sha256

    def __call__(self, image: np.ndarray | torch.Tensor, hole: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        return self.inner(image, hole)


def _import_module(module_name: str, target: str) -> Any:
    """Import ``module_name`` from ``sys.path``, else from the current folder."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name != module_name.split(".")[0] or os.getcwd() in sys.path:
            raise ConfigError(f"cannot import module {module_name!r} of inpainter {target!r}: {error}") from None
    sys.path.append(os.getcwd())
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        raise ConfigError(
            f"cannot import module {module_name!r} of inpainter {target!r}: {error} (looked in sys.path and the "
            f"current folder {os.getcwd()}); give module:NAME of a module there, or path/to/file.py:NAME"
        ) from None
    finally:
        sys.path.remove(os.getcwd())


def _import_file(path_text: str, target: str) -> Any:
    """Load a Python file as a module named after its absolute path (so workers load the same one)."""
    path = Path(path_text).expanduser().resolve()
    if not path.is_file():
        raise InputError(f"Python file of inpainter {target!r} not found: {path}")
    module_name = "maskbench_user_" + hashlib.sha256(str(path).encode()).hexdigest()[:16]
    if module_name in sys.modules:
        return sys.modules[module_name]
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    if module_spec is None or module_spec.loader is None:
        raise ConfigError(f"cannot load {path} of inpainter {target!r} as a Python module")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception:
        del sys.modules[module_name]
        raise
    return module


def _import_object(target: str) -> Any:
    """The object named ``package.module:attribute.path`` or ``path/to/file.py:attribute.path``."""
    file_match = _FILE_CALLABLE_SPEC.match(target)
    if file_match:
        attribute_path = file_match["name"]
        value: Any = _import_file(file_match["file"], target)
    else:
        module_name, _, attribute_path = target.partition(":")
        value = _import_module(module_name, target)
    for attribute in attribute_path.split("."):
        if not hasattr(value, attribute):
            raise ConfigError(
                f"module {target.rpartition(':')[0]!r} has no attribute {attribute_path!r} (inpainter {target!r})"
            )
        value = getattr(value, attribute)
    return value


def load_inpainter(spec: str, *, device: str | torch.device | None = None) -> Inpainter:
    """The inpainter named by ``spec`` (see the module docstring for the spec forms).

    Parameters
    ----------
    spec : str
        ``patchmatch``, ``telea``, ``ns``, ``pconv:PATH``, ``conv:PATH``, ``pconv:random``,
        ``conv:random``, ``PATH`` (maskbench checkpoint), ``torchscript:PATH`` or
        ``package.module:callable``.
    device : str, torch.device or None
        Device of torch models; ``None``: CUDA when present, else the CPU. CPU inpainters
        ignore it.

    Returns
    -------
    Inpainter
        A :class:`CpuInpainter` (``kind == "cpu"``: built-in fills and plain functions) or a
        :class:`TorchInpainter` (``kind == "torch"``: U-Nets, TorchScript, ``nn.Module``
        instances), or the user's own :class:`Inpainter`.

    Raises
    ------
    ConfigError
        An unknown spec, or a module/attribute that cannot be imported.
    InputError
        A missing weights file, or weights that do not fit the architecture.

    Examples
    --------
    >>> inpainter = load_inpainter("telea")
    >>> inpainter.kind
    'cpu'
    """
    spec = spec.strip()
    if spec in _BUILTIN_CPU:
        return CpuInpainter(spec, _BUILTIN_CPU[spec], name=_DISPLAY_NAMES[spec])
    prefix, separator, rest = spec.partition(":")
    if separator and prefix in ("pconv", "conv"):
        if not rest:
            raise ConfigError(f"spec {spec!r} lacks a checkpoint path; write {prefix}:PATH or {prefix}:random")
        if rest == "random":
            model = load_unet(prefix, None, source=spec)
            return TorchInpainter(model, spec=spec, name=f"{_DISPLAY_NAMES[prefix]} (random weights)", device=device)
        path = existing_file(rest, what=f"{prefix} checkpoint")
        model = load_unet(prefix, read_checkpoint(path), source=str(path))
        return TorchInpainter(
            model, spec=spec, name=_DISPLAY_NAMES[prefix], device=device, checkpoint_sha256=file_sha256(path)
        )
    if separator and prefix == "torchscript":
        return _load_torchscript(spec, rest, device=device)
    if (_CALLABLE_SPEC.match(spec) or _FILE_CALLABLE_SPEC.match(spec)) and not Path(spec).exists():
        return _load_callable(spec, device=device)
    if Path(spec).expanduser().is_file():
        return _load_checkpoint_path(spec, device=device)
    if "/" in spec or "\\" in spec or Path(spec).suffix in (".pt", ".pth", ".ckpt"):
        raise InputError(f"checkpoint not found: {spec}")
    close = difflib.get_close_matches(spec, _KNOWN_WORDS, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise ConfigError(f"unknown inpainter spec {spec!r}; {hint}{SPEC_HELP}")


def _load_checkpoint_path(spec: str, *, device: str | torch.device | None) -> TorchInpainter:
    path = Path(spec).expanduser()
    checkpoint = read_checkpoint(path)
    if checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise InputError(
            f"{path} is not a maskbench checkpoint (no architecture recorded); "
            f"load bare weights as pconv:{spec} or conv:{spec}"
        )
    arch = str(checkpoint.get("arch"))
    model = load_unet(arch, checkpoint, source=str(path))
    return TorchInpainter(
        model, spec=spec, name=_DISPLAY_NAMES.get(arch, arch), device=device, checkpoint_sha256=file_sha256(path)
    )


def _load_torchscript(spec: str, path_text: str, *, device: str | torch.device | None) -> TorchInpainter:
    path = existing_file(path_text, what="TorchScript file")
    try:
        model = torch.jit.load(str(path), map_location=resolve_device(device))
    except Exception as error:
        raise InputError(f"{path} is not a TorchScript module: {str(error).splitlines()[0]}") from None
    return TorchInpainter(model, spec=spec, name=path.stem, device=device, checkpoint_sha256=file_sha256(path))


def _load_callable(spec: str, *, device: str | torch.device | None) -> Inpainter:
    value = _import_object(spec)
    name = spec.rpartition(":")[2]
    if isinstance(value, Inpainter):
        return _NamedInpainter(value, spec)
    if isinstance(value, nn.Module):
        return TorchInpainter(value, spec=spec, name=name, device=device)
    if callable(value):
        return CpuInpainter(spec, spec, name=name)
    raise ConfigError(
        f"{spec!r} names a {type(value).__name__}, expected a torch.nn.Module, an Inpainter or a function"
    )
