"""Parity fixture for models/semantic-teacher.ts (Dinov2Teacher).

Upstream builds its teacher with timm: create_model('vit_base_patch14_dinov2.lvd142m', img_size=256,
patch_size=16) and feeds normalize(denormalize(x)). We build the same timm architecture at a tiny size
(img 32, patch 16, width 32, depth 2, 2 heads) with random weights and store its state dict under the
`semantic_model.` prefix, as upstream tokenizer checkpoints hold it, plus one int64 tokenizer buffer the
loader must skip. timm is the reference here (no upstream file is needed).
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from lossnet_common import out_dir, randomize, save_config, save_npy, save_weights  # noqa: E402

import timm  # noqa: E402

CFG = dict(image_size=32, patch_size=16, width=32, depth=2, num_heads=2)

torch.manual_seed(0)
m = timm.create_model('vit_base_patch14_dinov2', pretrained=False, img_size=CFG['image_size'], patch_size=CFG['patch_size'],
                      embed_dim=CFG['width'], depth=CFG['depth'], num_heads=CFG['num_heads'], drop_path_rate=0.0)
m.eval()
randomize(m, 1)

x = torch.rand(2, 3, CFG['image_size'], CFG['image_size'], generator=torch.Generator().manual_seed(2)) * 2 - 1
mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
with torch.no_grad():
    cls = m((x * 0.5 + 0.5 - mean) / std)  # upstream: normalize(denormalize(x)); the head is Identity

d = out_dir('semantic-teacher')
sd = {f'semantic_model.{k}': v for k, v in m.state_dict().items()}
sd['encoder.lvl1LC'] = torch.zeros(5, dtype=torch.int64)
save_weights(d, sd)
save_npy(d, 'x.npy', x)
save_npy(d, 'cls.npy', cls)
save_config(d, {**CFG, 'timm': timm.__version__, 'torch': torch.__version__})
print('wrote', d, tuple(cls.shape))
