"""Converts the public FID Inception-v3 weights (pytorch-fid's pt_inception-2015-12-05-6726825d.pth,
GitHub release `fid_weights` of mseitzer/pytorch-fid; torch-fidelity's
weights-inception-2015-12-05-6726825d.pth has the same tensors) into the safetensors file that
models/inception.ts loads:

  python3 bench/fid_convert_inception.py pt_inception-2015-12-05-6726825d.pth fid-inception.safetensors

Keeps the state-dict names unchanged, stores every tensor as little-endian float32, drops the
BatchNorm `num_batches_tracked` counters, checks that the 94 conv/BN groups and fc (1008×2048) are
all present, and prints the output's sha256 (the `weightsDigest` every metric then records).
Needs only torch (to unpickle the .pth) and numpy; nothing is downloaded."""
import hashlib
import json
import struct
import sys

import numpy as np
import torch


def main():
    src, dst = sys.argv[1], sys.argv[2]
    state = torch.load(src, map_location="cpu")
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    tensors = {k: v.detach().to(torch.float32).contiguous().numpy() for k, v in state.items()
               if not k.endswith("num_batches_tracked") and not k.startswith("AuxLogits")}
    convs = sorted({k[: -len(".conv.weight")] for k in tensors if k.endswith(".conv.weight")})
    if len(convs) != 94 or tensors.get("fc.weight", np.zeros(0)).shape != (1008, 2048):
        raise SystemExit(f"{src}: not the FID Inception-v3 (found {len(convs)} convs, fc {tensors.get('fc.weight', np.zeros(0)).shape})")
    for c in convs:
        for p in ("bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"):
            if f"{c}.{p}" not in tensors:
                raise SystemExit(f"{src}: missing {c}.{p}")
    header, offset = {}, 0
    for name in sorted(tensors):
        a = tensors[name]
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    header["__metadata__"] = {"source": src.split("/")[-1], "converter": "robustok bench/fid_convert_inception.py"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    h = hashlib.sha256()
    with open(dst, "wb") as f:
        for chunk in [struct.pack("<Q", len(text)), text] + [tensors[n].astype("<f4").tobytes() for n in sorted(tensors)]:
            f.write(chunk)
            h.update(chunk)
    print(json.dumps({"output": dst, "tensors": len(tensors), "sha256": h.hexdigest()}))


if __name__ == "__main__":
    main()
