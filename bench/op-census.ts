/**
 * Census of the TensorFlow kernels one train step issues (op type -> count), for profile-driven kernel
 * trimming (issue 12). Runs eagerly (ROBUSTOK_NATIVE_EXEC=eager is forced) so every op reaches the
 * binding's executeOp, which is counted; the deferred executor records the same sequence.
 *
 *   npx tsx bench/op-census.ts tokenizer|rar smoke|mid
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../compute/backend';
import { oursRarCase, rarCases } from './rar-cases';
import { oursTokenizerCase, tokenizerCases } from './tokenizer-cases';

async function main(): Promise<void> {
  process.env.ROBUSTOK_NATIVE_EXEC = 'eager';
  const [model = 'tokenizer', size = 'smoke'] = process.argv.slice(2);
  await initBackend({ log: null });
  const c =
    model === 'rar'
      ? oursRarCase({ ...rarCases(false).find((x) => x.kind === 'train' && x.name.includes(size))!, exec: 'eager' })
      : oursTokenizerCase({ ...tokenizerCases().find((x) => x.kind === 'train' && x.name.includes(size))!, exec: 'eager' });
  for (let i = 0; i < 2; i++) await Promise.resolve(c.run()); // optimizer moments exist from step 2 on
  const binding = (tf.backend() as unknown as { binding: { executeOp: (name: string, ...rest: unknown[]) => unknown } }).binding;
  const real = binding.executeOp.bind(binding);
  const counts = new Map<string, number>();
  // op types whose call sites are listed: ROBUSTOK_CENSUS_TRACE=Reshape,Cast
  const traceOps = new Set((process.env.ROBUSTOK_CENSUS_TRACE ?? '').split(',').filter(Boolean));
  const sites = new Map<string, number>(); // op type + call site -> ms
  const ms = new Map<string, number>(); // op type -> ms (eager: kernel time plus ~10-30 µs dispatch each)
  // the binding's own properties are read-only: the wrapper inherits them and overrides executeOp
  const proxy = Object.create(binding, {
    executeOp: {
      value: (name: string, ...rest: unknown[]) => {
        counts.set(name, (counts.get(name) ?? 0) + 1);
        const t0 = performance.now();
        const out = real(name, ...rest);
        const dt = performance.now() - t0;
        ms.set(name, (ms.get(name) ?? 0) + dt);
        if (traceOps.has(name) || traceOps.has('*')) {
          // the first frame in our own code (not tfjs, not this file) says which layer issued the op
          const frame = new Error().stack?.split('\n').find((l) => /\/work\/main\/(models|compute|bench|stages)\//.test(l) && !l.includes('op-census')) ?? '?';
          const key = `${name} ${frame
            .trim()
            .replace(/^at /, '')
            .replace(/\(?\/work\/main\//, '')}`;
          sites.set(key, (sites.get(key) ?? 0) + dt);
        }
        return out;
      },
    },
  }) as typeof binding;
  (tf.backend() as unknown as { binding: typeof binding }).binding = proxy;
  await Promise.resolve(c.run());
  (tf.backend() as unknown as { binding: typeof binding }).binding = binding;
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  console.log(`${model} ${size}: ${total} kernels`);
  const f = (x: number) => x.toFixed(1).padStart(8);
  console.log(`  count      ms  op`);
  for (const [n, k] of [...counts].sort((a, b) => ms.get(b[0])! - ms.get(a[0])!)) console.log(`${String(k).padStart(7)} ${f(ms.get(n)!)}  ${n}`);
  console.log(`     ms  op and call site`);
  for (const [n, t] of [...sites].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.ROBUSTOK_CENSUS_SITES ?? 60))) console.log(`${f(t)}  ${n}`);
  c.dispose();
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
