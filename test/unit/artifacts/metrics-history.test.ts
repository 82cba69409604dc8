import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MetricsHistory } from '../../../artifacts/metrics-history';
import { parseMetricsLine } from '../../../stages/command';

test('history stays within maxPoints, covers the whole run and averages what it merges', () => {
  const h = new MetricsHistory(8);
  for (let s = 1; s <= 1000; s++) {
    const rest = h.take({ step: s, total: 1000, message: 'm', metrics: { loss: s, lr: 1 } });
    assert.deepEqual(rest, { step: s, total: 1000, message: 'm' }, 'metrics are not passed on to the heartbeat');
  }
  const { series } = h.toHistory('k', { id: 's', kind: 'x' });
  const loss = series.loss;
  assert.ok(loss !== undefined);
  assert.ok(loss.values.length <= 9 && loss.values.length >= 4, `${loss.values.length} points`);
  assert.equal(loss.reports, 1000);
  assert.equal(loss.steps.at(-1), 1000, 'the last report is always there');
  // Points are means of consecutive steps: increasing, each below its bucket's last step.
  for (let i = 1; i < loss.values.length; i++) assert.ok((loss.values[i] ?? 0) > (loss.values[i - 1] ?? 0));
  for (const [i, v] of loss.values.entries()) assert.ok(v <= (loss.steps[i] ?? 0));
  assert.ok(series.lr?.values.every((v) => v === 1));
});

test('sparse metrics keep their own points; keep-alive reports reuse the last step; non-finite values are dropped', () => {
  const h = new MetricsHistory(500);
  for (let s = 1; s <= 30; s++) {
    h.take({ step: s, metrics: { loss: 1 / s } });
    if (s % 10 === 0) h.take({ metrics: { valPsnr: s, bad: Number.NaN } });
  }
  const { series } = h.toHistory('k', { id: 's', kind: 'x' });
  assert.deepEqual(series.valPsnr, { steps: [10, 20, 30], values: [10, 20, 30], reports: 3 });
  assert.equal(series.loss?.values.length, 30);
  assert.equal(series.bad, undefined);
  assert.ok(new MetricsHistory().empty);
});

test('::metrics lines: name=number words only', () => {
  assert.deepEqual(parseMetricsLine('loss=0.25 lr=1e-3 epoch=2 note=hello x= =3 a.b/c=-1'), { loss: 0.25, lr: 0.001, epoch: 2, 'a.b/c': -1 });
});

test('a resumed attempt continues the history saved with its checkpoint, without the reports after it', () => {
  const first = new MetricsHistory(8);
  for (let s = 1; s <= 40; s++) first.take({ step: s, metrics: { loss: s } });
  const saved = JSON.parse(JSON.stringify(first.state())) as ReturnType<MetricsHistory['state']>;
  for (let s = 41; s <= 45; s++) first.take({ step: s, metrics: { loss: s } }); // lost with the attempt

  const resumed = new MetricsHistory(8);
  resumed.restore(saved, 32);
  for (let s = 33; s <= 60; s++) resumed.take({ step: s, metrics: { loss: s } });
  const uninterrupted = new MetricsHistory(8);
  for (let s = 1; s <= 60; s++) uninterrupted.take({ step: s, metrics: { loss: s } });
  const a = resumed.toHistory('k', { id: 's', kind: 'x' }).series.loss;
  const b = uninterrupted.toHistory('k', { id: 's', kind: 'x' }).series.loss;
  assert.ok(a !== undefined && b !== undefined);
  assert.ok(
    a.steps.every((x, i) => i === 0 || x > (a.steps[i - 1] ?? 0)),
    `steps increase: ${a.steps.join(',')}`,
  );
  assert.equal(a.steps[0], b.steps[0], 'starts where the first attempt started');
  assert.equal(a.steps.at(-1), 60);
});
