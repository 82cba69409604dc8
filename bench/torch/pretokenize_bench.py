"""PyTorch side of the pretokenize bench (bench/pretokenize.suite.ts): what the tokenizer.pretokenize stage
does per image, the way upstream's pretokenization does it in one process: Pillow decode, ADM center crop
(bench/data_pil_bench.py's `center`), the crop and its mirror as [-1, 1] NCHW, the port's encoder
(robustok_tokenizer_port.py) under no_grad with the artifact's EMA weights, one json line per view.
Each rep builds the model, loads the weights and lists the folder (`startup_ms`, as a stage run does), then
runs the image loop and writes the shard (timed: median_ms etc., cores over the loops), as
bench/pretokenize-ours.ts splits a stage run.

stdin:  {"cases": [PretokenizeCaseRun], "threads": n, "reps": r, "warmup": w}
stdout: last line {"torch": version, "threads": n, "results": {name: {median_ms, min_ms, max_ms, reps, cores, startup_ms}}}
and the last run's shard in <case.out>/torch.jsonl.
"""
import json
import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ next to the bench sources
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from data_pil_bench import center  # noqa: E402
from fid_torch_inception import load_safetensors  # noqa: E402
from robustok_tokenizer_port import Tokenizer  # noqa: E402

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def image_folder(root):
    """(path, class index) in data/image-folder.ts order: sorted class folders, sorted paths within each."""
    classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    samples = []
    for i, c in enumerate(classes):
        files = []
        for dirpath, _, names in os.walk(os.path.join(root, c)):
            files += [os.path.join(dirpath, n) for n in names if n.lower().endswith(EXTENSIONS)]
        samples += [(f, i) for f in sorted(files)]
    return samples


def start(c):
    """What a stage run does before its image loop (and outside its images/s timer): load, list the folder."""
    model = Tokenizer(c["size"]["model"])
    model.load_state_dict(load_safetensors(os.path.join(c["tokenizer"], "ema.safetensors")), strict=True)
    return model.eval(), image_folder(os.path.join(c["dataset"], "train"))


def image_loop(c, model, samples):
    size = c["size"]["model"]["image_size"]
    per_call = max(1, c["batchSize"] // 2)  # two views per image (mode 'flip')
    with open(os.path.join(c["out"], "torch.jsonl"), "w") as out, torch.no_grad():
        for lo in range(0, len(samples), per_call):
            views, labels = [], []
            for path, label in samples[lo:lo + per_call]:
                crop = center(Image.open(path).convert("RGB"), size)  # HWC uint8
                views += [crop, crop[:, ::-1]]
                labels += [label, label]
            x = torch.from_numpy(np.stack(views).transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1.0)
            codes = model.encode_codes(x).numpy()
            out.write("".join(json.dumps({"class_id": l, "tokens": t.tolist()}, separators=(",", ":")) + "\n" for l, t in zip(labels, codes)))


def time_case(c, reps, warmup):
    for _ in range(warmup):
        image_loop(c, *start(c))
    loops, startups, cpu, wall = [], [], 0.0, 0.0
    for _ in range(reps):
        t0 = time.perf_counter()
        model, samples = start(c)
        t1, c1 = time.perf_counter(), time.process_time()
        image_loop(c, model, samples)
        t2 = time.perf_counter()
        cpu += time.process_time() - c1
        wall += t2 - t1
        startups.append((t1 - t0) * 1000)
        loops.append((t2 - t1) * 1000)
    loops.sort()
    startups.sort()
    mid = len(loops) // 2
    return {"median_ms": loops[mid], "min_ms": loops[0], "max_ms": loops[-1], "reps": reps, "cores": cpu / wall, "startup_ms": startups[mid]}


def main():
    spec = json.load(sys.stdin)
    torch.set_num_threads(spec["threads"])
    results = {}
    for c in spec["cases"]:
        results[c["name"]] = time_case(c, spec["reps"], spec["warmup"])
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "results": results}))


if __name__ == "__main__":
    main()
