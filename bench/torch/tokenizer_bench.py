"""PyTorch side of the tokenizer bench (bench/tokenizer.suite.ts): the cases of bench/tokenizer-cases.ts
on the port in robustok_tokenizer_port.py, timed as our side is (median after warm-up, CPU time / wall).

stdin:  {"cases": [TokenizerCaseSpec], "threads": n, "reps": r, "warmup": w}
stdout: last line {"torch": version, "threads": n, "results": {name: {median_ms, min_ms, max_ms, reps, cores}}}
The caller also sets OMP_NUM_THREADS / OPENBLAS_NUM_THREADS (bench/threads.ts): OpenBLAS sizes its own
pool from them at load, torch.set_num_threads does not reach it.
"""
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from robustok_tokenizer_port import Tokenizer  # noqa: E402


def time_steps(fn, reps, warmup):
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


def make(c):
    torch.manual_seed(1)
    m = c["size"]["model"]
    model = Tokenizer(m)
    s = m["image_size"]
    images = torch.rand(c["size"]["batch"], 3, s, s) * 2 - 1  # NCHW in [-1, 1]
    if c["kind"] == "encode":
        model.eval()
        return lambda: model.encode_codes(images)
    model.train()
    a = c["adamw"]
    opt = torch.optim.AdamW(model.parameters(), lr=a["lr"], betas=(a["beta1"], a["beta2"]), weight_decay=a["weightDecay"])

    def step():
        opt.zero_grad(set_to_none=True)
        recon, _, codebook_loss, commit_loss = model(images, c["perturbation"])
        loss = F.mse_loss(recon, images) + codebook_loss + commit_loss
        loss.backward()
        opt.step()
        loss.item()

    return step


def main():
    spec = json.load(sys.stdin)
    torch.set_num_threads(spec["threads"])
    results = {}
    for c in spec["cases"]:
        results[c["name"]] = time_steps(make(c), spec["reps"], spec["warmup"])
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "results": results}))


if __name__ == "__main__":
    main()
