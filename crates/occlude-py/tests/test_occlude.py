"""The Python package against the Rust CLI: the same parameters (`occlude sample`) and
the same pixels (`occlude sample --apply`, training's batched apply on burn tensors)
for the same seed; and KeepCutout's guarantee on a map with one hot spot.

The CLI is target/release/occlude (build it with `cargo build --release`), or
$OCCLUDE_CLI.
"""

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import occlude

ROOT = Path(__file__).resolve().parents[3]
CLI = Path(os.environ.get("OCCLUDE_CLI", ROOT / "target" / "release" / "occlude"))
H, W = 32, 32

# Region-level methods, saliency-guided ones, selective-paste alone and in a chain.
SPECS = [
    "cutout:n=2,s=12",
    "cutout:n=1,s=8,fill=0.5",
    "hide-and-seek:g=4",
    "random-erasing:p=0.9",
    "cutmix",
    "gridmask:d1=8,d2=16",
    "keep-cutout:s=16",
    "keep-cutout:n=3,s=6,tau=0.3,fill=random",
    "keep-random-erasing:p=1",
    "keep-cutmix",
    "saliency-occlusion:s=12,jitter=4",
    "keep-autoaugment:policy=cifar10",
    "keep-autoaugment:policy=cifar10+cutout:s=16",
]
PASTES = {"keep-autoaugment:policy=cifar10", "keep-autoaugment:policy=cifar10+cutout:s=16"}


def cli(*args):
    if not CLI.exists():
        pytest.fail(f"{CLI} does not exist: run `cargo build --release` (or set OCCLUDE_CLI)")
    out = subprocess.run([str(CLI), "sample", *map(str, args)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


@pytest.fixture(scope="module")
def saliency_map(tmp_path_factory):
    """A smooth random map: a blob plus noise, so that scores differ."""
    rng = np.random.default_rng(7)
    y, x = np.mgrid[:H, :W]
    blob = np.exp(-((y - 10.0) ** 2 + (x - 21.0) ** 2) / 40.0)
    values = (blob + 0.05 * rng.random((H, W))).astype(np.float32)
    path = tmp_path_factory.mktemp("maps") / "map.npy"
    np.save(path, values)
    return values, path


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("seed", [0, 11])
def test_parameters_are_the_clis(spec, seed, saliency_map):
    values, path = saliency_map
    count = 12
    expected = cli("--augment", spec, "--size", f"{H}x{W}", "--saliency", path, "--count", count, "--seed", seed)
    got = occlude.sample_batch(spec, (H, W), values, seed=seed, count=count)
    assert got == expected
    # One draw at a time gives the same, but for CutMix's partner (a permutation of the batch).
    if "cutmix" not in spec:
        for k in (0, 5, 11):
            assert occlude.sample(spec, f"{H}x{W}", values, seed=seed, index=k) == expected[k]


def test_draws_depend_on_epoch_and_index_but_not_on_the_batch():
    a = occlude.sample_batch("cutout:n=3", 32, seed=4, epoch=2, indices=[10, 20, 30])
    b = occlude.sample_batch("cutout:n=3", 32, seed=4, epoch=2, indices=[30, 99, 10])
    assert (a[0], a[2]) == (b[2], b[0])
    assert occlude.sample("cutout:n=3", 32, seed=4, epoch=3, index=10) != a[0]
    assert occlude.sample("cutout:n=3", 32, seed=4, epoch=2, index=11) != a[0]


@pytest.mark.parametrize("spec", SPECS)
def test_pixels_are_the_clis(spec, saliency_map, tmp_path):
    values, path = saliency_map
    n, c = 6, 3
    rng = np.random.default_rng(1)
    images = rng.normal(size=(n, c, H, W)).astype(np.float32)
    augmented = rng.normal(size=(n, c, H, W)).astype(np.float32)
    np.save(tmp_path / "x.npy", images)
    np.save(tmp_path / "a.npy", augmented)
    extra = ["--augmented", tmp_path / "a.npy"] if spec in PASTES else []
    out = tmp_path / "out.npy"
    cli("--augment", spec, "--size", f"{H}x{W}", "--saliency", path, "--count", n, "--seed", 3,
        "--apply", tmp_path / "x.npy", "--output", out, *extra)
    params = occlude.sample_batch(spec, (H, W), values, seed=3, count=n)
    got = occlude.apply(images, params, augmented=augmented if extra else None)
    expected = np.load(out)
    assert got.dtype == np.float32 and got.shape == images.shape
    np.testing.assert_array_equal(got, expected)
    assert not np.array_equal(got, augmented if extra else images), "nothing changed: a weak test"
    # A copy unless asked: the input is untouched; in place gives the same pixels.
    np.testing.assert_array_equal(images, np.load(tmp_path / "x.npy"))
    same = images.copy()
    assert occlude.apply(same, params, augmented=augmented if extra else None, inplace=True) is same
    np.testing.assert_array_equal(same, expected)


def test_pixels_follow_the_parameters_as_numpy_reads_them():
    """An independent reading of the JSON: erased boxes are 0, mixed boxes the partner's."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(8, 2, 20, 24)).astype(np.float32)
    for spec in ["cutout:n=3,s=7", "cutmix"]:
        params = occlude.sample_batch(spec, (20, 24), seed=5, count=8)
        expected = x.copy()
        for i, p in enumerate(params):
            for r in p.get("rects", [p.get("rect")]):
                box = (i, slice(None), slice(r["top"], r["top"] + r["height"]), slice(r["left"], r["left"] + r["width"]))
                expected[box] = 0.0 if p["kind"] == "erase" else x[(p["partner"],) + box[1:]]
        np.testing.assert_array_equal(occlude.apply(x, params), expected)
        assert not np.array_equal(expected, x)


def test_one_map_per_image_goes_to_its_image():
    spots = [(4, 5), (20, 25), (28, 3), (9, 20)]
    maps = np.stack([hot_spot_map(y, x, k) for k, (y, x) in enumerate(spots)])
    batch = occlude.sample_batch("keep-cutout:s=16", (H, W), maps, seed=1, indices=[7, 8, 9, 10])
    for k in range(len(spots)):
        assert batch[k] == occlude.sample("keep-cutout:s=16", (H, W), maps[k], seed=1, index=7 + k)
    # Swapped maps give other draws.
    assert occlude.sample_batch("keep-cutout:s=16", (H, W), maps[::-1], seed=1, indices=[7, 8, 9, 10]) != batch


def hot_spot_map(y, x, seed):
    """A noisy background in [0, 1) and one pixel of 1000 at (y, x)."""
    values = np.random.default_rng(seed).random((H, W)).astype(np.float32)
    values[y, x] = 1000.0
    return values


def covers(p, y, x):
    return any(r["top"] <= y < r["top"] + r["height"] and r["left"] <= x < r["left"] + r["width"] for r in p["rects"])


@pytest.mark.parametrize("tau", [0.6, 0.7, 0.74])
def test_keep_cutout_never_cuts_the_hot_spot(tau):
    """Selective-Cut (seed 003 Alg. 1a) cuts a region scoring below the tau-quantile of all
    candidates. With s = 16 the Cutout boxes that cover the hot pixel are those centred
    within the 16 x 16 window around it: 256 of the 1024 centres, and they score above
    every other (>= 1000 against < 256). They are the top 25 %, so for every tau < 0.75
    the threshold lies among the others and no cut box covers the spot."""
    y, x = 9, 20
    for seed in range(3):
        values = hot_spot_map(y, x, seed)
        params = occlude.sample_batch(f"keep-cutout:s=16,tau={tau}", (H, W), values, seed=seed, count=400)
        assert not [p for p in params if covers(p, y, x)]
        # The pixels too, through the transform.
        images = np.ones((400, 1, H, W), dtype=np.float32)
        out = occlude.Augment(f"keep-cutout:s=16,tau={tau}", seed=seed).batch(images, values[None].repeat(400, 0))
        assert (out[:, :, y, x] == 1.0).all() and (out == 0.0).any()
    # The check can fail: Cutout itself cuts the spot about a quarter of the time.
    cut = [p for p in occlude.sample_batch("cutout:s=16", (H, W), seed=0, count=400) if covers(p, y, x)]
    assert 60 < len(cut) < 140


def test_transform_batch_and_collate_make_the_draws_of_their_indices():
    rng = np.random.default_rng(3)
    images = rng.normal(size=(4, 3, H, W)).astype(np.float32)
    maps = rng.random((4, H, W)).astype(np.float32)
    aug = occlude.Augment("keep-cutout:s=8", seed=9, epoch=2)
    params = occlude.sample_batch("keep-cutout:s=8", (H, W), maps, seed=9, epoch=2, indices=[5, 6, 7, 8])
    expected = occlude.apply(images, params)
    # One image at a time (a Dataset transform), saliency as 1 x H x W.
    one = np.stack([aug(images[k], maps[k][None], index=5 + k) for k in range(4)])
    np.testing.assert_array_equal(one, expected)
    # A batch, and a collate_fn over (image, label, saliency, index) samples.
    np.testing.assert_array_equal(aug.batch(images, maps, indices=[5, 6, 7, 8]), expected)
    batch, labels = aug.collate([(images[k], k % 2, maps[k], 5 + k) for k in range(4)])
    np.testing.assert_array_equal(batch, expected)
    assert labels.tolist() == [0, 1, 0, 1] and aug.last_params == params
    # Without indices a running count stands in: consecutive calls differ.
    first, second = aug(images[0], maps[0]), aug(images[0], maps[0])
    assert not np.array_equal(first, second)


def test_cutmix_collate_gives_soft_targets():
    rng = np.random.default_rng(4)
    samples = [(rng.normal(size=(1, H, W)).astype(np.float32), k % 3, rng.random((H, W)), k) for k in range(6)]
    aug = occlude.Augment("keep-cutmix", seed=1, classes=3)
    _, targets = aug.collate(samples)
    assert targets.shape == (6, 3)
    np.testing.assert_allclose(targets.sum(1), 1.0, rtol=1e-6)
    for i, p in enumerate(aug.last_params):
        assert targets[i, i % 3] >= p["lambda"] - 1e-6
    with pytest.raises(ValueError, match="classes"):
        occlude.Augment("cutmix").collate(samples)


def test_mistakes_are_named():
    with pytest.raises(ValueError, match="saliency"):
        occlude.sample("keep-cutout", 32)
    with pytest.raises(ValueError, match="cutoot"):
        occlude.sample("cutoot", 32)
    with pytest.raises(ValueError, match="saliency: shape"):
        occlude.sample("keep-cutout", 32, np.zeros((16, 16)))
    with pytest.raises(ValueError, match="selective-paste needs"):
        params = occlude.sample_batch("keep-autoaugment:policy=cifar10", 32, np.ones((32, 32)), count=2)
        occlude.apply(np.zeros((2, 3, 32, 32), np.float32), params)
    with pytest.raises(ValueError, match="2 parameter sets for 3 images"):
        occlude.apply(np.zeros((3, 1, 32, 32), np.float32), occlude.sample_batch("cutout", 32, count=2))
    with pytest.raises(ValueError, match=r"params\[0\]"):
        occlude.apply(np.zeros((1, 1, 8, 8), np.float32), [{"kind": "blur"}])


class FakeTensor:
    """The part of torch.Tensor the package uses (no PyTorch here): a CPU tensor over a
    NumPy array, whose module name says torch."""

    __module__ = "torch"

    def __init__(self, array):
        self.array = array
        self.device = types.SimpleNamespace(type="cpu")
        self.shape = array.shape

    def detach(self):
        return self

    def cpu(self):
        return self

    def numpy(self):
        return self.array

    def to(self, device):
        return self

    def is_contiguous(self):
        return self.array.flags.c_contiguous

    def data_ptr(self):
        return self.array.ctypes.data

    def copy_(self, other):
        self.array[...] = other.array
        return self


def test_torch_tensors_are_taken_and_given_back(monkeypatch):
    fake = types.SimpleNamespace(
        from_numpy=FakeTensor, utils=types.SimpleNamespace(data=types.SimpleNamespace(get_worker_info=lambda: None))
    )
    monkeypatch.setitem(sys.modules, "torch", fake)
    rng = np.random.default_rng(6)
    x = rng.normal(size=(3, 2, H, W)).astype(np.float32)
    maps = rng.random((3, H, W)).astype(np.float32)
    params = occlude.sample_batch("keep-cutout:s=8", (H, W), FakeTensor(maps), seed=2, indices=[0, 1, 2])
    expected = occlude.apply(x, params)
    out = occlude.apply(FakeTensor(x.copy()), params)
    assert isinstance(out, FakeTensor)
    np.testing.assert_array_equal(out.array, expected)
    # In place: the tensor's own memory (contiguous float32), or a copy back (float64).
    t = FakeTensor(x.copy())
    assert occlude.apply(t, params, inplace=True) is t
    np.testing.assert_array_equal(t.array, expected)
    t64 = FakeTensor(x.astype(np.float64))
    occlude.apply(t64, params, inplace=True)
    np.testing.assert_array_equal(t64.array, expected.astype(np.float64))
    # collate over torch samples gives torch tensors.
    aug = occlude.Augment("keep-cutout:s=8", seed=2)
    images, labels = aug.collate([(FakeTensor(x[k]), k, FakeTensor(maps[k]), k) for k in range(3)])
    assert isinstance(images, FakeTensor) and isinstance(labels, FakeTensor)
    np.testing.assert_array_equal(images.array, expected)
