"""Writes test/fixtures/parity/adm-crop/: a small synthetic RGB image (source.png, 75x53) and what
Pillow and the upstream ADM crops (RobusTok's dataset/augmentation.py) make of it, as uint8 HWC .npy:

    box-half.npy     img.resize((37, 26), BOX)            (the halving step, odd sides)
    bicubic-down.npy img.resize((23, 16), BICUBIC)        (downsizing: support widened)
    bicubic-up.npy   img.resize((91, 64), BICUBIC)        (upsizing)
    center-16.npy    center_crop_arr(img, 16)             (halving + bicubic down + crop)
    center-32.npy    center_crop_arr(img, 32)
    center-64.npy    center_crop_arr(img, 64)             (bicubic up)
    tencrop-16.npy   TenCrop(16)(center_crop_arr(img, 17)) stacked: [10, 16, 16, 3]
    random-16.npy    random_crop_arr(img, 16) with its three draws fixed: short side 20, crop y 3, x 7

    mkdir -p /tmp/upstream/robustok
    git -C /work/.mirror/qiuk2+RobusTok/repo archive HEAD dataset | tar -x -C /tmp/upstream/robustok
    ROBUSTOK_UPSTREAM_DIR=/tmp/upstream/robustok /usr/bin/python3 test/parity/adm-crop/make_fixture.py

Needs numpy, Pillow and torchvision (TenCrop). Generated with Pillow 9.4.0. The TS test
(test/unit/data/adm-crop.test.ts) reads the fixture only.
"""
import importlib.util
import os
import sys

import numpy as np
from PIL import Image
import torchvision.transforms as T

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "fixtures", "parity", "adm-crop")


def load_augmentation(upstream):
    path = os.path.join(upstream, "dataset", "augmentation.py")
    spec = importlib.util.spec_from_file_location("upstream_augmentation", path)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


def source_image():
    # Smooth gradients, hard edges and seeded noise: exercises both the kernel shape and clipping.
    h, w = 53, 75
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    rng = np.random.default_rng(8)
    r = 255 * x / (w - 1)
    g = 128 + 100 * np.sin(y / 4.0)
    b = np.where((x - 30) ** 2 + (y - 25) ** 2 < 15 ** 2, 240.0, 20.0)
    img = np.stack([r, g, b], axis=-1) + rng.normal(0, 12, size=(h, w, 3))
    return Image.fromarray(np.clip(np.rint(img), 0, 255).astype(np.uint8), "RGB")


def main():
    upstream = os.environ.get("ROBUSTOK_UPSTREAM_DIR") or (sys.argv[1] if len(sys.argv) > 1 else None)
    if not upstream:
        sys.exit("set ROBUSTOK_UPSTREAM_DIR to an extracted RobusTok checkout (see the module docstring)")
    aug = load_augmentation(upstream)
    os.makedirs(OUT, exist_ok=True)
    img = source_image()
    img.save(os.path.join(OUT, "source.png"))
    img = Image.open(os.path.join(OUT, "source.png")).convert("RGB")
    arrays = {
        "box-half": img.resize((37, 26), resample=Image.BOX),
        "bicubic-down": img.resize((23, 16), resample=Image.BICUBIC),
        "bicubic-up": img.resize((91, 64), resample=Image.BICUBIC),
        "center-16": aug.center_crop_arr(img, 16),
        "center-32": aug.center_crop_arr(img, 32),
        "center-64": aug.center_crop_arr(img, 64),
    }
    for name, im in arrays.items():
        np.save(os.path.join(OUT, name + ".npy"), np.asarray(im, dtype=np.uint8))
    draws = iter([20, 3, 7])
    aug.random.randrange = lambda *args: next(draws)
    np.save(os.path.join(OUT, "random-16.npy"), np.asarray(aug.random_crop_arr(img, 16), dtype=np.uint8))
    crops = T.TenCrop(16)(aug.center_crop_arr(img, int(16 * 1.1)))
    np.save(os.path.join(OUT, "tencrop-16.npy"), np.stack([np.asarray(c, dtype=np.uint8) for c in crops]))


if __name__ == "__main__":
    main()
