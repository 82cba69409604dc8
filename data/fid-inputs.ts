/**
 * Turns one `robustok fid` / eval.fid input into an evaluated side (metrics/fid-report.ts):
 *   - a folder of images            → Inception features → statistics (+ sFID, IS, P/R inputs)
 *   - an .npz sample batch (arr_0)  → same, streamed in batches from the archive
 *   - an .npz of statistics (mu, sigma [, mu_s, sigma_s]; ADM reference batches also carry
 *     arr_0, whose features are computed only when precision/recall is asked for)
 *   - an .npy N×D feature matrix    → statistics directly (no network)
 * Network features of folders and sample batches are cached in an ArtifactStore under
 * fid-features/v1/<content sha256>/<weights digest>.npz, so re-evaluating the same samples with
 * the same network skips the extraction.
 */
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { sha256File } from '../artifacts/hashing';
import type { ArtifactStore } from '../artifacts/store';
import { PipelineError } from '../core/errors';
import { activationStatistics, type GaussianStats } from '../metrics/activation-stats';
import { assertFinite, featureMatrix } from '../metrics/features';
import type { EvalSide, FeatureProvenance } from '../metrics/fid-report';
import { LOGIT_CLASSES, NETWORK_NAME, POOL_DIM, SPATIAL_DIM, type FidInception } from '../models/inception';
import { extractInceptionFeatures, type ExtractContext, type ImageBatch, type InceptionFeatures } from '../models/inception-features';
import { decodeRgb, listImages } from './images';
import { readNpyFile } from './npy';
import { encodeNpz, NpzReader, type NpzMember } from './npz';

export interface LoadSideOptions {
  /** Creates (once) the feature network; only called when an input needs it. */
  network(): Promise<FidInception>;
  batchSize: number;
  store?: ArtifactStore;
  /** Also extract arr_0 features of a statistics .npz (ADM reference batch) for precision/recall. */
  referenceImagesForPR?: boolean;
  ctx?: ExtractContext;
  log?: (line: string) => void;
}

const PRECOMPUTED: FeatureProvenance = { network: 'precomputed', weightsDigest: null };

export async function loadEvalSide(input: string, opts: LoadSideOptions): Promise<EvalSide> {
  let st;
  try {
    st = await stat(input);
  } catch {
    throw new PipelineError(
      'INPUT_MISSING',
      `${input}: no such file or folder; give an image folder, an .npz (samples or statistics) or an .npy feature matrix`,
    );
  }
  if (st.isDirectory()) return fromImageFolder(input, opts);
  const ext = path.extname(input).toLowerCase();
  if (ext === '.npy') return fromNpy(input);
  if (ext === '.npz') return fromNpz(input, opts);
  throw new PipelineError('CONFIG_INVALID', `${input}: unsupported input (expected a folder of images, an .npz or an .npy)`);
}

async function fromNpy(file: string): Promise<EvalSide> {
  const arr = await readNpyFile(file);
  if (arr.shape.length !== 2)
    throw new PipelineError(
      'TENSOR_SHAPE',
      `${file}: a feature matrix must be 2-D (N × D), got shape (${arr.shape.join(', ')}); save it as np.save(path, feats.reshape(len(feats), -1))`,
    );
  if (!(arr.data instanceof Float32Array || arr.data instanceof Float64Array)) {
    throw new PipelineError('DATA_CORRUPT', `${file}: features have dtype ${arr.dtype}; expected float32 or float64 (cast with .astype(np.float32))`);
  }
  const [n, d] = arr.shape as [number, number];
  const pool = featureMatrix(arr.data, n, d, file);
  return { path: file, kind: 'npy-features', n, stats: activationStatistics(pool, file), pool, provenance: PRECOMPUTED };
}

async function readStats(r: NpzReader, file: string, muKey: string, sigmaKey: string): Promise<GaussianStats> {
  const mu = await r.read(muKey);
  const sigma = await r.read(sigmaKey);
  const d = mu.shape[0] ?? 0;
  if (mu.shape.length !== 1 || sigma.shape.length !== 2 || sigma.shape[0] !== d || sigma.shape[1] !== d) {
    throw new PipelineError(
      'TENSOR_SHAPE',
      `${file}: '${muKey}' has shape (${mu.shape.join(', ')}) and '${sigmaKey}' (${sigma.shape.join(', ')}); expected (D,) and (D, D)`,
    );
  }
  if (!(mu.data instanceof Float32Array || mu.data instanceof Float64Array) || !(sigma.data instanceof Float32Array || sigma.data instanceof Float64Array)) {
    throw new PipelineError('DATA_CORRUPT', `${file}: '${muKey}'/'${sigmaKey}' have dtypes ${mu.dtype}/${sigma.dtype}; expected float32 or float64`);
  }
  const s = { dim: d, mu: Float64Array.from(mu.data), sigma: Float64Array.from(sigma.data) };
  assertFinite(s.mu, file, `'${muKey}'`);
  assertFinite(s.sigma, file, `'${sigmaKey}'`, d);
  return s;
}

async function fromNpz(file: string, opts: LoadSideOptions): Promise<EvalSide> {
  const r = await NpzReader.open(file);
  try {
    if (r.has('mu') && r.has('sigma')) {
      const stats = await readStats(r, file, 'mu', 'sigma');
      const spatialStats = r.has('mu_s') && r.has('sigma_s') ? await readStats(r, file, 'mu_s', 'sigma_s') : undefined;
      let side: EvalSide = { path: file, kind: 'npz-stats', n: undefined, stats, spatialStats, provenance: PRECOMPUTED };
      if (opts.referenceImagesForPR && r.has('arr_0')) {
        const f = await samplesFeatures(r, file, opts);
        side = { ...side, n: f.feats.n, pool: featureMatrix(f.feats.pool, f.feats.n, POOL_DIM, file), provenance: f.provenance };
      }
      return side;
    }
    if (!r.has('arr_0'))
      throw new PipelineError(
        'DATA_CORRUPT',
        `${file}: holds neither 'arr_0' (uint8 N×H×W×3 images) nor 'mu'/'sigma' statistics (it has: ${r.keys.join(', ') || 'nothing'})`,
      );
    const f = await samplesFeatures(r, file, opts);
    return sideFromFeatures(file, 'npz-samples', f.feats, f.provenance, f.cached);
  } finally {
    await r.close();
  }
}

interface CachedStats {
  stats: GaussianStats;
  spatialStats: GaussianStats;
}

function sideFromFeatures(file: string, kind: EvalSide['kind'], feats: InceptionFeatures, provenance: FeatureProvenance, cached?: CachedStats): EvalSide {
  const pool = featureMatrix(feats.pool, feats.n, POOL_DIM, file);
  return {
    path: file,
    kind,
    n: feats.n,
    stats: cached?.stats ?? activationStatistics(pool, `${file} (pool_3 features)`),
    spatialStats: cached?.spatialStats ?? activationStatistics(featureMatrix(feats.spatial, feats.n, SPATIAL_DIM, file), `${file} (sFID features)`),
    pool,
    logits: { data: feats.logits, classes: LOGIT_CLASSES },
    provenance,
  };
}

/** Looks up, or computes and stores, the network features of some content. */
async function cachedFeatures(
  contentDigest: string,
  opts: LoadSideOptions,
  compute: (net: FidInception) => Promise<InceptionFeatures>,
): Promise<{ feats: InceptionFeatures; provenance: FeatureProvenance; cached?: CachedStats }> {
  const net = await opts.network();
  const provenance: FeatureProvenance = { network: NETWORK_NAME, weightsDigest: net.weightsDigest };
  const key = `fid-features/v1/${contentDigest}/${net.weightsDigest.replace(/[^A-Za-z0-9=._-]/g, '_')}.npz`;
  if (opts.store && (await opts.store.stat(key))) {
    try {
      const loaded = await readFeatureCache(await opts.store.getBytes(key), key);
      opts.log?.(`features: cache hit ${opts.store.uri}/${key}`);
      return { ...loaded, provenance };
    } catch (e) {
      opts.log?.(`features: ignoring unreadable cache entry ${key} (${(e as Error).message})`);
    }
  }
  const feats = await compute(net);
  if (opts.store) {
    const pool = featureMatrix(feats.pool, feats.n, POOL_DIM, key);
    const stats = activationStatistics(pool, key);
    const spatialStats = activationStatistics(featureMatrix(feats.spatial, feats.n, SPATIAL_DIM, key), key);
    const members: Record<string, NpzMember> = {
      pool: { data: feats.pool, shape: [feats.n, POOL_DIM] },
      logits: { data: feats.logits, shape: [feats.n, LOGIT_CLASSES] },
      mu: { data: stats.mu, shape: [POOL_DIM] },
      sigma: { data: stats.sigma, shape: [POOL_DIM, POOL_DIM] },
      mu_s: { data: spatialStats.mu, shape: [SPATIAL_DIM] },
      sigma_s: { data: spatialStats.sigma, shape: [SPATIAL_DIM, SPATIAL_DIM] },
    };
    await opts.store.put(key, encodeNpz(members));
    return { feats, provenance, cached: { stats, spatialStats } };
  }
  return { feats, provenance };
}

async function readFeatureCache(bytes: Buffer, key: string): Promise<{ feats: InceptionFeatures; cached: CachedStats }> {
  const os = await import('node:os');
  const fs = await import('node:fs/promises');
  const tmp = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'fid-cache-')), 'features.npz');
  await fs.writeFile(tmp, bytes);
  const r = await NpzReader.open(tmp);
  try {
    const pool = await r.read('pool');
    const logits = await r.read('logits');
    const n = pool.shape[0] ?? 0;
    if (!(pool.data instanceof Float32Array) || !(logits.data instanceof Float32Array) || pool.shape[1] !== POOL_DIM)
      throw new Error(`${key}: unexpected cache layout`);
    const stats = await readStats(r, key, 'mu', 'sigma');
    const spatialStats = await readStats(r, key, 'mu_s', 'sigma_s');
    return {
      feats: { n, pool: pool.data, logits: logits.data, spatial: new Float32Array(0) },
      cached: { stats: { ...stats, count: n }, spatialStats: { ...spatialStats, count: n } },
    };
  } finally {
    await r.close();
    await fs.rm(path.dirname(tmp), { recursive: true, force: true });
  }
}

async function samplesFeatures(r: NpzReader, file: string, opts: LoadSideOptions) {
  const h = await r.header('arr_0');
  if (h.dtype !== 'u1' || h.shape.length !== 4 || h.shape[3] !== 3) {
    throw new PipelineError(
      'DATA_CORRUPT',
      `${file}: 'arr_0' has dtype ${h.dtype} and shape (${h.shape.join(', ')}); a sample batch must be uint8 N×H×W×3 (RGB 0..255)`,
    );
  }
  const [n, height, width] = h.shape as [number, number, number, number];
  const digest = await sha256File(file);
  return cachedFeatures(`npz-${digest}`, opts, (net) => {
    async function* batches(): AsyncGenerator<ImageBatch> {
      for await (const b of r.rows('arr_0', opts.batchSize)) yield { data: b.data as Uint8Array, count: b.count, height, width };
    }
    return extractInceptionFeatures(net, batches(), n, opts.ctx);
  });
}

async function fromImageFolder(dir: string, opts: LoadSideOptions): Promise<EvalSide> {
  const files = await listImages(dir);
  if (files.length < 2)
    throw new PipelineError(
      'INPUT_MISSING',
      `${dir}: found ${files.length} image(s) (png/jpg/webp/tiff/gif/avif); FID needs at least 2, and thousands to mean anything`,
    );
  const h = createHash('sha256');
  for (const f of files) h.update(`${path.relative(dir, f)}\0${await sha256File(f)}\n`);
  const f = await cachedFeatures(`dir-${h.digest('hex')}`, opts, (net) => {
    // Consecutive images of one size form a batch; a size change flushes it.
    async function* batches(): AsyncGenerator<ImageBatch> {
      let pending: Uint8Array[] = [];
      let size: [number, number] | undefined;
      const flush = () => {
        const [height, width] = size!;
        const data = new Uint8Array(pending.length * height * width * 3);
        pending.forEach((p, i) => data.set(p, i * height * width * 3));
        const b: ImageBatch = { data, count: pending.length, height, width };
        pending = [];
        return b;
      };
      for (const file of files) {
        const img = await decodeRgb(file);
        if (size && (size[0] !== img.height || size[1] !== img.width || pending.length >= opts.batchSize)) yield flush();
        size = [img.height, img.width];
        pending.push(img.data);
      }
      if (pending.length > 0) yield flush();
    }
    return extractInceptionFeatures(net, batches(), files.length, opts.ctx);
  });
  return sideFromFeatures(dir, 'image-folder', f.feats, f.provenance, f.cached);
}
