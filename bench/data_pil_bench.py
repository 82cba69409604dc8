"""Python side of bench/data.suite.ts: decode + ADM crop + [-1, 1] float CHW with Pillow and numpy in one
process (what one PyTorch DataLoader worker of upstream does per image). Written for this bench.

    python3 bench/data_pil_bench.py <augment: center|random> <size> <reps> <file>...
Prints {"ms": [per-rep ms for all files]}.
"""
import json
import math
import random
import sys
import time

import numpy as np
from PIL import Image


def halve(img, target):
    while min(*img.size) >= 2 * target:
        img = img.resize(tuple(x // 2 for x in img.size), resample=Image.BOX)
    return img


def resize_short(img, short):
    scale = short / min(*img.size)
    return img.resize(tuple(round(x * scale) for x in img.size), resample=Image.BICUBIC)


def center(img, size):
    a = np.asarray(resize_short(halve(img, size), size))
    y, x = (a.shape[0] - size) // 2, (a.shape[1] - size) // 2
    return a[y:y + size, x:x + size]


def rand(img, size, rng):
    short = rng.randrange(math.ceil(size / 1.0), math.ceil(size / 0.8) + 1)
    a = np.asarray(resize_short(halve(img, short), short))
    y, x = rng.randrange(a.shape[0] - size + 1), rng.randrange(a.shape[1] - size + 1)
    a = a[y:y + size, x:x + size]
    return a[:, ::-1] if rng.random() < 0.5 else a


def main():
    augment, size, reps, files = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
    rng = random.Random(0)
    times = []
    for _ in range(reps + 1):
        t0 = time.perf_counter()
        for f in files:
            img = Image.open(f).convert("RGB")
            a = center(img, size) if augment == "center" else rand(img, size, rng)
            _ = (a.transpose(2, 0, 1).astype(np.float32) / 127.5) - 1.0
        times.append((time.perf_counter() - t0) * 1000)
    print(json.dumps({"ms": times[1:]}))


if __name__ == "__main__":
    main()
