"""Parity fixture for models/lpips.ts against upstream tokenizer/tokenizer_image/lpips.py.

LPIPS hard-codes full VGG16 (14.7M weights, ~58 MB as float32): far too big to commit as random
weights. Instead every weight is a closed-form function of its name and flat index (below, mirrored
in test/unit/models/lpips.test.ts), so this script and the TS test build bit-identical float32
weights and only the inputs, the distances and the input gradient (a few KB) are committed. The TS
test also writes those weights to a safetensors file and goes through Lpips.load.

Upstream downloads torchvision's VGG16 and taming's vgg.pth in its constructor; both are stubbed
(random-init VGG16, no lin checkpoint) before the formula weights are copied in. Dropout is off (eval).
"""
import math
import os
import sys
import types

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from lossnet_common import out_dir, save_config, save_npy, upstream_dir  # noqa: E402

up = upstream_dir()
sys.path.insert(0, up)
for name in ('requests', 'tqdm'):  # download helpers only
    sys.modules.setdefault(name, types.ModuleType(name))
sys.modules['tqdm'].tqdm = None
import torchvision.models  # noqa: E402

_vgg16 = torchvision.models.vgg16
torchvision.models.vgg16 = lambda pretrained=False, **kw: _vgg16(weights=None)
from tokenizer.tokenizer_image import lpips as up_lpips  # noqa: E402

up_lpips.LPIPS.load_from_pretrained = lambda self, name='vgg_lpips': None


def formula(name, shape):
    """w[i] = amp · sin(0.7311·i + 0.001·(i² mod 10007) + φ(name)) (float64, then float32); lin weights are kept positive."""
    n = int(np.prod(shape))
    phase = 0.37 * len(name) + 0.011 * sum(ord(c) for c in name)
    i = np.arange(n, dtype=np.float64)
    # the quadratic-residue term keeps the matrices full rank (sin(a·i + φ) alone is rank 2 as a matrix)
    s = np.sin(0.7311 * i + 0.001 * np.mod(i * i, 10007) + phase)
    if name.startswith('lin'):
        v = 0.1 * (1.5 + s)
    elif name.endswith('.bias'):
        v = 0.05 * s
    else:
        fan_in = n // shape[0]
        v = 2.0 / math.sqrt(fan_in) * s
    return torch.from_numpy(v.astype(np.float32).reshape(shape))


m = up_lpips.LPIPS().eval()
with torch.no_grad():
    for name, p in m.named_parameters():
        p.copy_(formula(name, tuple(p.shape)))

g = torch.Generator().manual_seed(3)
x = (torch.rand(2, 3, 32, 32, generator=g) * 2 - 1).requires_grad_(True)
y = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
d = m(x, y)  # [B, 1, 1, 1]
d.sum().backward()

o = out_dir('lpips')
save_npy(o, 'x.npy', x)
save_npy(o, 'y.npy', y)
save_npy(o, 'dist.npy', d.reshape(-1))
save_npy(o, 'grad_x.npy', x.grad)
save_config(o, {'names': [n for n, _ in m.named_parameters()], 'torch': torch.__version__})
print('wrote', o, d.reshape(-1).tolist())
