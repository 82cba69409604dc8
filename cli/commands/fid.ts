/**
 * `robustok fid A B [--json]`: FID (and sFID, IS, precision/recall when the inputs allow) between
 * A (reference) and B (samples), in the ADM evaluator's argument order. Each of A, B is an image
 * folder, an .npz sample batch (arr_0), an .npz of statistics (mu, sigma) or an .npy feature
 * matrix (N × D; the network is skipped). Features computed by the network are cached in the
 * artifact store.
 */
import { openStore } from '../../artifacts/open-store';
import { evalFid, FID_BATCH_SIZE } from '../../stages/eval-fid';
import { defaultStoreUri } from '../state-dir';

export interface FidCommandOptions {
  json?: boolean;
  /** Converted FID Inception weights (safetensors); default $ROBUSTOK_FID_WEIGHTS. */
  weights?: string;
  /** Seed of a randomly initialised network: explicit opt-in for smoke runs only. */
  randomWeights?: number;
  batchSize?: number;
  /** Also run the network on a reference batch's arr_0 for precision/recall. */
  pr?: boolean;
  /** Artifact store for the feature cache (default: $ROBUSTOK_STORE or ./.robustok/store); 'none' disables it. */
  store?: string;
  /** Where progress lines go (default stderr). */
  log?: (line: string) => void;
  /** Where the result goes (default stdout). */
  print?: (text: string) => void;
}

export async function fidCommand(a: string, b: string, opts: FidCommandOptions = {}): Promise<number> {
  const log = opts.log ?? ((l: string) => console.error(l));
  const print = opts.print ?? ((t: string) => console.log(t));
  const store = opts.store === 'none' ? undefined : openStore(opts.store ?? defaultStoreUri());
  const weightsPath = opts.weights ?? (process.env.ROBUSTOK_FID_WEIGHTS || undefined);
  let last = 0;
  const progress = (done: number, total: number) => {
    if (opts.json) return;
    const now = Date.now();
    if (done === total || now - last > 2000) {
      last = now;
      log(`features: ${done}/${total} images`);
    }
  };
  // The same orchestration (network, both sides, report) and batch default as the eval.fid stage.
  const { stage: _stage, ...r } = await evalFid(
    {
      samplesPath: b,
      referencePath: a,
      weightsPath,
      randomWeightsSeed: opts.randomWeights,
      batchSize: opts.batchSize ?? FID_BATCH_SIZE,
      precisionRecall: opts.pr === true,
      store,
    },
    { progress, log: opts.json ? undefined : log },
  );
  if (opts.json) {
    print(JSON.stringify(r, null, 2));
  } else {
    const lines = [`FID: ${r.fid}`];
    if (r.sfid !== undefined) lines.push(`sFID: ${r.sfid}`);
    if (r.is !== undefined) lines.push(`Inception Score: ${r.is}`);
    if (r.precision !== undefined) lines.push(`Precision: ${r.precision}`, `Recall: ${r.recall}`);
    lines.push(
      `n: ${r.n_a ?? '(stats)'} vs ${r.n_b ?? '(stats)'}; features: ${r.features.network}${r.features.weightsDigest ? ` (${r.features.weightsDigest})` : ''}`,
    );
    print(lines.join('\n'));
  }
  return 0;
}
