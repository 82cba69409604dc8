"""PyTorch FID Inception-v3 (the pytorch-fid FIDInceptionV3 architecture, written out here) loaded
from the same safetensors file as models/inception.ts: images/s on this machine and a parity check of
pool_3 features against the tfjs model. Two ways in:

  python3 bench/fid_torch_inception.py WEIGHTS.safetensors IMAGES.npy OUT.npy [--bench N --size S --batch B]
      (bench/fid.ts; threads: FID_BENCH_TORCH_THREADS, else all cores)
  python3 bench/fid_torch_inception.py < input.json
      (bench/inception.suite.ts through bench/threads.ts runTorchAtThreads; input.json is an
      InceptionBenchInput of bench/inception-cases.ts plus "threads"; prints
      {"torch", "threads", "results": {name: {median_ms, min_ms, max_ms, reps, cores}}} and writes the
      parity features to files.parityOut)

IMAGES.npy: uint8 N×299×299×3 (no resize on either side, so only the network is compared).
Requires torch (e.g. Debian's python3-torch) and numpy."""
import json
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", info["dtype"]
        a, b = info["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[a:b], dtype="<f4").reshape(info["shape"]).copy())
    return out


class Conv(nn.Module):
    def __init__(self, cin, cout, k, stride=1, pad=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride=stride, padding=pad, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class A(nn.Module):
    def __init__(self, cin, pool):
        super().__init__()
        self.branch1x1 = Conv(cin, 64, 1)
        self.branch5x5_1 = Conv(cin, 48, 1)
        self.branch5x5_2 = Conv(48, 64, 5, pad=2)
        self.branch3x3dbl_1 = Conv(cin, 64, 1)
        self.branch3x3dbl_2 = Conv(64, 96, 3, pad=1)
        self.branch3x3dbl_3 = Conv(96, 96, 3, pad=1)
        self.branch_pool = Conv(cin, pool, 1)

    def forward(self, x):
        p = F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
        return torch.cat([self.branch1x1(x), self.branch5x5_2(self.branch5x5_1(x)),
                          self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))), self.branch_pool(p)], 1)


class B(nn.Module):
    def __init__(self, cin):
        super().__init__()
        self.branch3x3 = Conv(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = Conv(cin, 64, 1)
        self.branch3x3dbl_2 = Conv(64, 96, 3, pad=1)
        self.branch3x3dbl_3 = Conv(96, 96, 3, stride=2)

    def forward(self, x):
        return torch.cat([self.branch3x3(x), self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                          F.max_pool2d(x, 3, 2)], 1)


class C(nn.Module):
    def __init__(self, cin, c7):
        super().__init__()
        self.branch1x1 = Conv(cin, 192, 1)
        self.branch7x7_1 = Conv(cin, c7, 1)
        self.branch7x7_2 = Conv(c7, c7, (1, 7), pad=(0, 3))
        self.branch7x7_3 = Conv(c7, 192, (7, 1), pad=(3, 0))
        self.branch7x7dbl_1 = Conv(cin, c7, 1)
        self.branch7x7dbl_2 = Conv(c7, c7, (7, 1), pad=(3, 0))
        self.branch7x7dbl_3 = Conv(c7, c7, (1, 7), pad=(0, 3))
        self.branch7x7dbl_4 = Conv(c7, c7, (7, 1), pad=(3, 0))
        self.branch7x7dbl_5 = Conv(c7, 192, (1, 7), pad=(0, 3))
        self.branch_pool = Conv(cin, 192, 1)

    def forward(self, x):
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        d = self.branch7x7dbl_1(x)
        for m in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            d = m(d)
        p = self.branch_pool(F.avg_pool2d(x, 3, 1, 1, count_include_pad=False))
        return torch.cat([self.branch1x1(x), b7, d, p], 1)


class D(nn.Module):
    def __init__(self, cin):
        super().__init__()
        self.branch3x3_1 = Conv(cin, 192, 1)
        self.branch3x3_2 = Conv(192, 320, 3, stride=2)
        self.branch7x7x3_1 = Conv(cin, 192, 1)
        self.branch7x7x3_2 = Conv(192, 192, (1, 7), pad=(0, 3))
        self.branch7x7x3_3 = Conv(192, 192, (7, 1), pad=(3, 0))
        self.branch7x7x3_4 = Conv(192, 192, 3, stride=2)

    def forward(self, x):
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([self.branch3x3_2(self.branch3x3_1(x)), b7, F.max_pool2d(x, 3, 2)], 1)


class E(nn.Module):
    def __init__(self, cin, max_pool):
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = Conv(cin, 320, 1)
        self.branch3x3_1 = Conv(cin, 384, 1)
        self.branch3x3_2a = Conv(384, 384, (1, 3), pad=(0, 1))
        self.branch3x3_2b = Conv(384, 384, (3, 1), pad=(1, 0))
        self.branch3x3dbl_1 = Conv(cin, 448, 1)
        self.branch3x3dbl_2 = Conv(448, 384, 3, pad=1)
        self.branch3x3dbl_3a = Conv(384, 384, (1, 3), pad=(0, 1))
        self.branch3x3dbl_3b = Conv(384, 384, (3, 1), pad=(1, 0))
        self.branch_pool = Conv(cin, 192, 1)

    def forward(self, x):
        t = self.branch3x3_1(x)
        u = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        p = F.max_pool2d(x, 3, 1, 1) if self.max_pool else F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
        return torch.cat([self.branch1x1(x), torch.cat([self.branch3x3_2a(t), self.branch3x3_2b(t)], 1),
                          torch.cat([self.branch3x3dbl_3a(u), self.branch3x3dbl_3b(u)], 1), self.branch_pool(p)], 1)


class FIDInception(nn.Module):
    def __init__(self):
        super().__init__()
        self.Conv2d_1a_3x3 = Conv(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = Conv(32, 32, 3)
        self.Conv2d_2b_3x3 = Conv(32, 64, 3, pad=1)
        self.Conv2d_3b_1x1 = Conv(64, 80, 1)
        self.Conv2d_4a_3x3 = Conv(80, 192, 3)
        self.Mixed_5b, self.Mixed_5c, self.Mixed_5d = A(192, 32), A(256, 64), A(288, 64)
        self.Mixed_6a = B(288)
        self.Mixed_6b, self.Mixed_6c, self.Mixed_6d, self.Mixed_6e = C(768, 128), C(768, 160), C(768, 160), C(768, 192)
        self.Mixed_7a = D(768)
        self.Mixed_7b, self.Mixed_7c = E(1280, False), E(2048, True)
        self.fc = nn.Linear(2048, 1008)

    def forward(self, x):
        """x: float N×3×299×299 in [-1, 1); returns pool_3 (N×2048)."""
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, 3, 2)
        x = F.max_pool2d(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)), 3, 2)
        for m in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b, self.Mixed_6c,
                  self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = m(x)
        return x.mean((2, 3))


def load_net(weights):
    net = FIDInception().eval()
    state = load_safetensors(weights)
    missing = net.load_state_dict({k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}, strict=False)
    assert not missing.missing_keys, missing.missing_keys
    return net


def time_steps(fn, reps, warmup):
    """As bench/threads.ts timeSteps: per-rep wall times, and CPU time / wall over the timed reps."""
    for _ in range(warmup):
        fn()
    times = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    times.sort()
    return {"median_ms": times[len(times) // 2], "min_ms": times[0], "max_ms": times[-1], "reps": reps, "cores": cpu / wall}


def suite_main():
    """One child of bench/inception.suite.ts: the cases at spec["threads"] threads, then the parity features."""
    spec = json.load(sys.stdin)
    # OMP_NUM_THREADS / OPENBLAS_NUM_THREADS come from the caller's environment (bench/threads.ts).
    torch.set_num_threads(spec["threads"])
    files = spec["files"]
    net = load_net(files["weights"])
    fc_t = net.fc.weight.detach().t().contiguous()
    results = {}
    torch.manual_seed(3)
    for c in spec["cases"]:
        x = torch.randint(0, 256, (c["batch"], 3, c["size"], c["size"])).float()

        def step():
            # What ours times (models/inception-features.ts): resize, network, pool_3 and the bias-free
            # logits (ours also slices the 17×17×7 sFID features, a copy of ~2k floats per image).
            with torch.no_grad():
                pool = net((F.interpolate(x, (299, 299), mode="bilinear", align_corners=False) - 128) * 0.0078125)
                (pool @ fc_t).numpy()
                pool.numpy()

        results[c["name"]] = time_steps(step, spec["reps"], spec["warmup"])
    imgs = torch.from_numpy(np.load(files["parityImages"])).permute(0, 3, 1, 2).float()
    with torch.no_grad():
        pool = net((imgs - 128) * 0.0078125)
    np.save(files["parityOut"], pool.numpy().astype(np.float32))
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "results": results}))


def main():
    if len(sys.argv) == 1:
        suite_main()
        return
    weights, images, out = sys.argv[1:4]
    opts = dict(zip(sys.argv[4::2], sys.argv[5::2]))
    # All cores unless told otherwise (some torch builds default to 1 thread), as tfjs-node uses them.
    torch.set_num_threads(int(os.environ.get("FID_BENCH_TORCH_THREADS", os.cpu_count() or 1)))
    net = load_net(weights)
    imgs = torch.from_numpy(np.load(images)).permute(0, 3, 1, 2).float()
    with torch.no_grad():
        pool = net((imgs - 128) * 0.0078125)
    np.save(out, pool.numpy().astype(np.float32))
    result = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    if "--bench" in opts:
        n, size, batch = int(opts["--bench"]), int(opts.get("--size", 256)), int(opts.get("--batch", 16))
        x = torch.randint(0, 256, (batch, 3, size, size)).float()
        with torch.no_grad():
            net((F.interpolate(x, (299, 299), mode="bilinear", align_corners=False) - 128) * 0.0078125)  # warm-up
            c0, t0, done = time.process_time(), time.perf_counter(), 0
            while done < n:
                net((F.interpolate(x, (299, 299), mode="bilinear", align_corners=False) - 128) * 0.0078125)
                done += batch
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        result.update({"images": done, "wall_s": wall, "cpu_s": cpu, "images_per_s": done / wall})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
