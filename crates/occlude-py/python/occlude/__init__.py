"""occlude's augmentation samplers for NumPy and PyTorch.

The parameters come from the Rust samplers occlude trains with, so a draw is the one
``occlude sample`` prints and training makes for the same seed, epoch and dataset
index: Cutout, Hide-and-Seek, Random Erasing, CutMix, GridMask, saliency-max occlusion
and KeepAugment's Selective-Cut / Selective-Paste (``keep-cutout``, ``keep-cutmix``,
``keep-random-erasing``, ``selective-paste``). Specs are written as in a run config
(``keep-cutout:s=16,tau=0.6``).

* :func:`sample` / :func:`sample_batch` -- the parameters as dicts (the JSON of
  ``occlude sample``; a list of two for a region-level method followed by
  selective-paste).
* :func:`apply` -- parameters applied to ``N x C x H x W`` float32 images.
* :class:`Augment` -- a ready transform (``aug(image, saliency)``), batch hook
  (``aug.batch(images, saliency)``) and ``collate_fn`` for ``torch.utils.data``.

Images are normalised (``(v/255 - mean)/std``): the ``zero`` fill is the mean colour.
Saliency maps are ``H x W`` (one per image). Anything ``numpy.asarray`` accepts works,
torch tensors included (on any device); no PyTorch dependency. Results come back as
the kind given: a torch tensor on the input's device for torch input, NumPy otherwise.
"""

import json
import sys

import numpy as np

from . import _native

__all__ = ["sample", "sample_batch", "apply", "soft_targets", "Augment"]


def _is_torch(x):
    return type(x).__module__.split(".")[0] == "torch"


def _numpy(x, dtype=np.float32):
    """``x`` as a NumPy array of ``dtype`` (torch tensors: detached, on the CPU)."""
    if _is_torch(x):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def _like(out, template):
    """``out`` as the kind ``template`` is (a torch tensor on its device, or NumPy)."""
    if _is_torch(template):
        torch = sys.modules["torch"]
        return torch.from_numpy(out).to(template.device)
    return out


def _size(size):
    """``(H, W)`` from ``32``, ``(32, 32)`` or ``"32x32"``."""
    if isinstance(size, str):
        h, sep, w = size.lower().partition("x")
        if not sep:
            raise ValueError(f"size {size!r}: expected HxW, e.g. 32x32")
        return int(h), int(w)
    if isinstance(size, (int, np.integer)):
        return int(size), int(size)
    h, w = size
    return int(h), int(w)


def _maps(saliency, count, size):
    """Saliency maps as a C-contiguous float32 array: one ``H x W`` map, or ``count``."""
    if saliency is None:
        return None
    maps = np.ascontiguousarray(_numpy(saliency))
    h, w = size
    if maps.ndim >= 3 and maps.shape[-3] == 1:  # N x 1 x H x W or 1 x H x W
        maps = maps.reshape(maps.shape[:-3] + maps.shape[-2:])
    if maps.shape not in ((h, w), (count, h, w)):
        raise ValueError(f"saliency: shape {maps.shape}; expected {(h, w)} or one map per image {(count, h, w)}")
    return maps


def sample_batch(spec, size, saliency=None, *, seed=0, epoch=0, indices=None, count=None, batch_index=0):
    """The parameters of a batch of draws, one per image, as dicts.

    ``indices`` are the images' dataset indices (default ``range(count)``); a draw
    depends only on ``(seed, epoch, index)``, except CutMix's partner, a permutation of
    the batch drawn from ``(seed, epoch, batch_index)``. ``saliency``: one ``H x W``
    map for every image or one per image (``N x H x W``). ``occlude sample --count N
    --seed S`` prints ``sample_batch(spec, size, saliency, seed=S, count=N)``.
    """
    if indices is None:
        if count is None:
            raise ValueError("give indices (dataset indices) or count")
        indices = range(count)
    indices = [int(i) for i in indices]
    size = _size(size)
    maps = _maps(saliency, len(indices), size)
    lines = _native.sample_lines(spec, size, maps, int(seed), int(epoch), int(batch_index), indices)
    return [json.loads(line) for line in lines]


def sample(spec, size, saliency=None, *, seed=0, epoch=0, index=0):
    """The parameters training draws for dataset index ``index`` in epoch ``epoch``.

    A dict (``{"kind": "erase", "rects": [{"top": 3, "left": 0, "height": 16,
    "width": 9}], "fill": {"kind": "zero"}}``), or a list of two for a region-level
    method followed by selective-paste -- the JSON ``occlude sample`` prints.
    ``saliency``: the ``H x W`` map of the image, for saliency-guided methods.
    """
    return sample_batch(spec, size, saliency, seed=seed, epoch=epoch, indices=[index])[0]


def apply(images, params, *, augmented=None, inplace=False):
    """``params`` (one per image, as :func:`sample_batch` returns them) applied to
    ``images`` (``N x C x H x W`` float32, normalised).

    Returns a new array unless ``inplace`` (then ``images`` itself, changed: a NumPy
    float32 C-contiguous array or a torch tensor). ``augmented``: the image-level view
    ``A(x)`` of the images, which selective-paste pastes into.
    """
    if isinstance(params, dict):
        params = [params]
    texts = [p if isinstance(p, str) else json.dumps(p) for p in params]
    x = _numpy(images)
    if x.ndim != 4:
        raise ValueError(f"images: shape {x.shape}; expected N x C x H x W")
    if len(texts) != x.shape[0]:
        raise ValueError(f"{len(texts)} parameter sets for {x.shape[0]} images")
    aug = None if augmented is None else np.ascontiguousarray(_numpy(augmented))
    if inplace and _shares(x, images) and x.flags.c_contiguous and x.flags.writeable:
        _native.apply_into(x, texts, aug)
        return images
    out = np.array(x, dtype=np.float32, order="C", copy=True)
    _native.apply_into(out, texts, aug)
    if not inplace:
        return _like(out, images)
    if _is_torch(images):
        images.copy_(sys.modules["torch"].from_numpy(out).to(images.device))
        return images
    if isinstance(images, np.ndarray) and images.flags.writeable:
        images[...] = out
        return images
    raise ValueError("inplace needs a writable NumPy array or a torch tensor")


def _shares(x, images):
    """Whether the array ``x`` is ``images``' own memory."""
    if _is_torch(images):
        return images.device.type == "cpu" and images.is_contiguous() and x.ctypes.data == images.data_ptr()
    return x is images


def _stages(p):
    return p if isinstance(p, list) else [p]


def soft_targets(params, labels, classes):
    """Training targets ``N x classes`` of a batch: one-hot, and for CutMix
    ``lambda * onehot(y) + (1 - lambda) * onehot(y_partner)``."""
    labels = _numpy(labels, np.int64).reshape(-1)
    q = np.zeros((len(labels), classes), dtype=np.float32)
    for i, p in enumerate(params):
        mix = next((s for s in _stages(p) if s.get("kind") == "mix"), None)
        if mix is None:
            q[i, labels[i]] = 1.0
        else:
            q[i, labels[i]] += mix["lambda"]
            q[i, labels[mix["partner"]]] += 1.0 - mix["lambda"]
    return q


def _worker():
    """``(id, count)`` of the ``torch.utils.data`` worker this runs in (``(0, 1)``
    outside workers or without torch)."""
    data = getattr(getattr(sys.modules.get("torch"), "utils", None), "data", None)
    info = data.get_worker_info() if data is not None else None
    return (0, 1) if info is None else (info.id, info.num_workers)


class Augment:
    """An augmentation spec as a transform, batch hook and ``collate_fn``.

    ``aug = Augment("keep-cutout:s=16", seed=0)``; then ``aug(image, saliency)`` for
    one ``C x H x W`` image, ``aug.batch(images, saliency)`` for ``N x C x H x W``, or
    ``DataLoader(ds, collate_fn=aug.collate)`` with samples ``(image, label,
    saliency[, index])``. Call ``aug.set_epoch(e)`` each epoch (draws differ by epoch).

    Draws are keyed by dataset index: pass ``index`` / ``indices`` (or return the index
    as the 4th item of a sample) to make them exactly reproducible and equal to
    occlude's training draws; without them a running count stands in (offset by the
    DataLoader worker). Label-mixing specs (CutMix) need ``classes`` for
    :meth:`collate`, which then returns soft targets. ``last_params`` holds the
    parameters of the last call.
    """

    def __init__(self, spec, seed=0, *, epoch=0, classes=None):
        self.spec = spec
        self.seed = int(seed)
        self.classes = classes
        self.last_params = None
        self.set_epoch(epoch)

    def set_epoch(self, epoch):
        self.epoch = int(epoch)
        self._images = 0
        self._batches = 0

    def _indices(self, n):
        worker, workers = _worker()
        start = self._images
        self._images += n
        return [(start + k) * workers + worker for k in range(n)]

    def batch(self, images, saliency=None, indices=None, batch_index=None, *, augmented=None, inplace=False):
        """The batch ``images`` (``N x C x H x W``) augmented; ``saliency``: ``N x H x W``."""
        shape = tuple(images.shape) if hasattr(images, "shape") else np.shape(images)
        if len(shape) != 4:
            raise ValueError(f"images: shape {shape}; expected N x C x H x W")
        n, _, h, w = shape
        indices = self._indices(n) if indices is None else [int(i) for i in _numpy(indices, np.int64).reshape(-1)]
        if batch_index is None:
            worker, workers = _worker()
            batch_index = self._batches * workers + worker
            self._batches += 1
        params = sample_batch(
            self.spec, (h, w), saliency, seed=self.seed, epoch=self.epoch, indices=indices, batch_index=batch_index
        )
        self.last_params = params
        return apply(images, params, augmented=augmented, inplace=inplace)

    def __call__(self, image, saliency=None, index=None, *, augmented=None):
        """One ``C x H x W`` image augmented; ``saliency``: its ``H x W`` map."""
        x = _numpy(image)
        if x.ndim != 3:
            raise ValueError(f"image: shape {x.shape}; expected C x H x W")
        sal = None if saliency is None else _numpy(saliency)[None]
        aug = None if augmented is None else _numpy(augmented)[None]
        out = self.batch(x[None], sal, None if index is None else [index], augmented=aug)[0]
        return _like(np.ascontiguousarray(out), image)

    def collate(self, samples):
        """A ``collate_fn``: samples ``(image, label, saliency[, index])`` to
        ``(images, targets)``: labels, or soft targets (``N x classes``) when the spec
        mixes labels."""
        if not samples or len(samples[0]) not in (3, 4):
            raise ValueError("collate: expected samples (image, label, saliency) or (image, label, saliency, index)")
        images = np.stack([_numpy(s[0]) for s in samples])
        labels = _numpy([int(s[1]) for s in samples], np.int64)
        saliency = np.stack([_numpy(s[2]) for s in samples])
        indices = [int(s[3]) for s in samples] if len(samples[0]) == 4 else None
        out = self.batch(images, saliency, indices)
        targets = labels
        if any(s.get("kind") == "mix" for p in self.last_params for s in _stages(p)):
            if self.classes is None:
                raise ValueError(f"{self.spec} mixes labels: give Augment(..., classes=N) for soft targets")
            targets = soft_targets(self.last_params, labels, self.classes)
        if _is_torch(samples[0][0]):
            torch = sys.modules["torch"]
            return torch.from_numpy(out), torch.from_numpy(targets)
        return out, targets
