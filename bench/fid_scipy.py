"""Reference Fréchet distance for bench/fid.ts: the ADM evaluator's formula (scipy sqrtm of the
non-symmetric product, eps retry only when non-finite, imaginary-part check on the diagonal), plus
an eigh-based NumPy variant, each timed. Usage: python3 bench/fid_scipy.py stats.npz [--eigh-only]
→ JSON line. stats.npz holds mu1, sigma1, mu2, sigma2 (float64). --eigh-only skips sqrtm (bench/fid.ts
uses it for the one-thread run, where sqrtm would take minutes)."""
import json
import sys
import time

import numpy as np
import scipy
from scipy import linalg


def adm_frechet(mu1, sigma1, mu2, sigma2, eps=1e-6):
    diff = mu1 - mu2
    try:
        covmean, _ = linalg.sqrtm(sigma1.dot(sigma2), disp=False)
    except TypeError:  # scipy >= 1.18 removed disp
        covmean = linalg.sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
        if isinstance(covmean, tuple):
            covmean = covmean[0]
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError("Imaginary component {}".format(np.max(np.abs(covmean.imag))))
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def eigh_frechet(mu1, sigma1, mu2, sigma2):
    w, q = np.linalg.eigh(sigma1)
    r = (q * np.sqrt(np.clip(w, 0, None))) @ q.T
    ev = np.linalg.eigvalsh(r @ sigma2 @ r)
    diff = mu1 - mu2
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.sqrt(np.clip(ev, 0, None)).sum())


def timed(fn, *args):
    c0, t0 = time.process_time(), time.perf_counter()
    v = fn(*args)
    return v, time.perf_counter() - t0, time.process_time() - c0


def main():
    z = np.load(sys.argv[1])
    args = (z["mu1"], z["sigma1"], z["mu2"], z["sigma2"])
    out = {"numpy": np.__version__, "scipy": scipy.__version__}
    if "--eigh-only" not in sys.argv:
        adm, adm_wall, adm_cpu = timed(adm_frechet, *args)
        out["adm_sqrtm"] = {"fid": adm, "wall_s": adm_wall, "cpu_s": adm_cpu}
    eig, eig_wall, eig_cpu = timed(eigh_frechet, *args)
    out["numpy_eigh"] = {"fid": eig, "wall_s": eig_wall, "cpu_s": eig_cpu}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
