"""Parity fixture for models/dino-disc.ts against upstream tokenizer/tokenizer_image/discriminator_dino.py.

Upstream's DinoDisc hard-codes ViT-S width 384 at 224 px, so even 3 blocks plus 2 heads are ~9M
weights (~35 MB). As for LPIPS, every weight is a closed-form function of its name and flat index
(mirrored in test/unit/models/dino-disc.test.ts), so only inputs and outputs are committed.
depth = 3 keeps readouts after the position embedding and after block 2 (two heads).

Upstream downloads the DINO checkpoint in its constructor: torch.hub.load_state_dict_from_url is
replaced by a function returning the formula state dict (upstream then zeroes its key bias itself).
Cases:
  - a closed-form 224 px input (no resizing), discriminator in train mode (one power iteration per
    spectral conv): logits, updated weight_u/weight_v of one conv, dL/dx (every 8th pixel) and
    dL/d(one head weight, first 4 output channels) for L = Σ logits ⊙ probe; then an eval-mode forward
    (stored u, v). A smooth input (e.g. 32 px upsized 7×) makes nearly constant tokens, whose
    BatchNormLocal variances are tiny: upstream's own float32 logits then sit ~2e-4 from a float64
    evaluation, too noisy for a parity check, hence the varied closed-form image;
  - a random 32 px input (bicubic upsizing): the first 8 channels of both readouts;
  - a closed-form 256 px input with Python's random seeded so the coin says "no crop": the first 8 channels of the
    first readout (area downsizing).
"""
import math
import os
import random
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from lossnet_common import out_dir, save_config, save_npy, upstream_dir  # noqa: E402

up = upstream_dir()
sys.path.insert(0, up)
sys.path.insert(0, os.path.join(up, 'tokenizer', 'tokenizer_image'))  # discriminator_dino does `import dist`
from tokenizer.tokenizer_image import discriminator_dino as dd  # noqa: E402

DEPTH = 3


def formula(name, shape):
    n = int(np.prod(shape))
    phase = 0.37 * len(name) + 0.011 * sum(ord(c) for c in name)
    i = np.arange(n, dtype=np.float64)
    # the quadratic-residue term keeps the matrices full rank (sin(a·i + φ) alone is rank 2 as a matrix)
    s = np.sin(0.7311 * i + 0.001 * np.mod(i * i, 10007) + phase)
    if name.endswith(('weight_u', 'weight_v')):
        v = s
    elif len(shape) == 1 and name.endswith('.weight'):
        v = 1 + 0.2 * s
    elif len(shape) == 1:
        v = 0.1 * s
    elif name.endswith(('cls_token', 'pos_embed')):
        v = 0.5 * s
    else:
        v = 1.5 / math.sqrt(n // shape[0]) * s
    return torch.from_numpy(v.astype(np.float32).reshape(shape))


backbone = dd.FrozenDINOSmallNoDrop(depth=DEPTH, key_depths=(2, 5, 8, 11))
bb_shapes = {k: tuple(v.shape) for k, v in backbone.state_dict().items() if k not in ('x_scale', 'x_shift')}
torch.hub.load_state_dict_from_url = lambda url, map_location=None: {k: formula(k, s) for k, s in bb_shapes.items()}

torch.manual_seed(0)
disc = dd.DinoDisc(device='cpu', depth=DEPTH)
with torch.no_grad():
    for k, v in disc.heads.state_dict().items():
        v.copy_(formula('heads.' + k, tuple(v.shape)))
head_shapes = {'heads.' + k: list(v.shape) for k, v in disc.heads.state_dict().items()}



def closed_form(shape, a, b):
    """0.6·sin(a·i + 0.2) + 0.3·sin(b·i) over the flat index: rebuilt by the TS test (no 1 MB .npy)."""
    i = np.arange(int(np.prod(shape)), dtype=np.float64)
    return torch.from_numpy((0.6 * np.sin(a * i + 0.2) + 0.3 * np.sin(b * i)).astype(np.float32).reshape(shape))


g = torch.Generator().manual_seed(5)
x = closed_form((2, 3, 224, 224), 0.37, 1.713).requires_grad_(True)
disc.train()
logits = disc(x)
probe = torch.rand(logits.shape, generator=g) - 0.5
(logits * probe).sum().backward()
conv = disc.heads[0][1].fn[0]  # heads.0.1.fn.0: the k = 9 circular conv
grad_w = conv.weight_orig.grad

disc.eval()
with torch.no_grad():
    logits_eval = disc(x)
    x32 = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
    readouts_32 = [a[:, :8] for a in disc.dino_proxy[0](x32)]  # [B, 8, 196] each

x256 = closed_form((2, 3, 256, 256), 0.29, 2.113)
seed = next(s for s in range(100) if random.Random(s).random() > 0.5)
random.seed(seed)
with torch.no_grad():
    readout0 = disc.dino_proxy[0](x256)[0][:, :8]  # [B, 8, 196]

o = out_dir('dino-disc')
save_npy(o, 'probe.npy', probe)
save_npy(o, 'logits_train.npy', logits)
save_npy(o, 'logits_eval.npy', logits_eval)
save_npy(o, 'grad_x.npy', x.grad[:, :, ::8, ::8])  # every 8th pixel
save_npy(o, 'x32.npy', x32)
save_npy(o, 'readout0_32.npy', readouts_32[0])
save_npy(o, 'readout1_32.npy', readouts_32[1])
save_npy(o, 'grad_conv_weight.npy', grad_w[:4])  # first 4 output channels
save_npy(o, 'conv_u.npy', conv.weight_u)
save_npy(o, 'conv_v.npy', conv.weight_v)
save_npy(o, 'readout0_256.npy', readout0)
save_config(o, {'depth': DEPTH, 'backbone': {k: list(s) for k, s in bb_shapes.items()}, 'heads': head_shapes, 'torch': torch.__version__})
print('wrote', o, tuple(logits.shape), float(logits.abs().mean()))
