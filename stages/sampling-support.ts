/** What generator.sample and posttrain.pairs share around a sampling loop. */
import { PipelineError } from '../core/errors';
import type { Rar } from '../models/rar';
import type { RobustokTokenizer } from '../models/robustok-tokenizer';
import type { StageContext } from './stage';

const HEARTBEAT_MS = 2000;

/** The generator and the tokenizer must agree on the token grid and the codebook. */
export function checkPair(gen: Rar, tok: RobustokTokenizer): void {
  const g = gen.config;
  const t = tok.config;
  if (g.imageSeqLen !== tok.numTokens || g.codebookSize !== t.codebook_size) {
    throw new PipelineError(
      'CHECKPOINT_MISMATCH',
      `the generator produces ${g.imageSeqLen} ids of a ${g.codebookSize}-entry codebook but the tokenizer decodes ${tok.numTokens} ids of ${t.codebook_size}: wire the tokenizer the generator was trained on`,
    );
  }
}

/** A keep-alive heartbeat at most every HEARTBEAT_MS while one batch runs its L steps. */
export function stepHeartbeat(ctx: StageContext<unknown>, label: string): (step: number, total: number) => void {
  let last = performance.now();
  return (step, total) => {
    ctx.signal.throwIfAborted();
    const now = performance.now();
    if (now - last < HEARTBEAT_MS) return;
    last = now;
    ctx.progress({ message: `${label}: token ${step}/${total}` });
  };
}

/** The contiguous slice [lo, hi) of 0..total−1 owned by shard `index` of `count`. */
export function shardRange(total: number, index: number, count: number): [number, number] {
  return [Math.floor((index * total) / count), Math.floor(((index + 1) * total) / count)];
}
