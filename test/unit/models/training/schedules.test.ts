import { test } from 'node:test';
import assert from 'node:assert/strict';
import { delayed, perEpoch, ScheduleConfig, scheduleFromConfig, timmCosine, warmupCosine } from '../../../../models/training/schedules';

const close = (a: number, b: number, msg?: string) => assert.ok(Math.abs(a - b) <= 1e-12 + 1e-9 * Math.abs(b), `${msg ?? ''} ${a} vs ${b}`);

test('RAR warmup + cosine: 0 → 4e-4 over 62 500 steps, cosine to 1e-5 at 250 000', () => {
  const lr = warmupCosine({ baseLr: 4e-4, endLr: 1e-5, warmupSteps: 62500, totalSteps: 250000 });
  close(lr(0), 0);
  close(lr(31250), 2e-4, 'half warmup');
  close(lr(62500), 4e-4, 'peak');
  close(lr(156250), (4e-4 + 1e-5) / 2, 'cosine midpoint');
  close(lr(62500 + 187500 / 4), 1e-5 + (4e-4 - 1e-5) * 0.5 * (1 + Math.cos(Math.PI / 4)), 'quarter');
  close(lr(250000), 1e-5);
  close(lr(300000), 1e-5, 'flat after the end');
});

test('timm cosine per epoch (tokenizer G: warmup 1 epoch from 1e-5, 2.4e-4 → 5e-5 over 200)', () => {
  const lr = timmCosine({ baseLr: 2.4e-4, minLr: 5e-5, tInitial: 200, warmupT: 1, warmupLrInit: 1e-5 });
  close(lr(0), 1e-5, 'warmup start');
  close(lr(1), 5e-5 + 0.5 * 1.9e-4 * (1 + Math.cos(Math.PI / 200)), 'no warmup prefix: cosine at t = 1');
  close(lr(100), (2.4e-4 + 5e-5) / 2);
  close(lr(200), 5e-5);
  close(lr(250), 5e-5);
  const prefixed = timmCosine({ baseLr: 1, minLr: 0, tInitial: 10, warmupT: 2, warmupPrefix: true });
  close(prefixed(2), 1);
  close(prefixed(7), 0.5);
  const steps = perEpoch(lr, 1251);
  close(steps(0), lr(0));
  close(steps(1250), lr(0), 'last step of epoch 0');
  close(steps(1251), lr(1), 'first step of epoch 1');
});

test('delayed: the discriminator schedule holds its warmup lr until the GAN loss starts', () => {
  const lr = delayed(timmCosine({ baseLr: 8e-4, minLr: 5e-5, tInitial: 144, warmupT: 4, warmupLrInit: 1e-5 }), 56, 1e-5);
  close(lr(0), 1e-5);
  close(lr(55), 1e-5);
  close(lr(56), 1e-5);
  close(lr(58), 1e-5 + (2 * (8e-4 - 1e-5)) / 4);
});

test('schedule configs parse with defaults and reject nonsense', () => {
  const c = ScheduleConfig.parse({ kind: 'warmup-cosine', baseLr: 1e-3, warmupSteps: 10, totalSteps: 100 });
  close(scheduleFromConfig(c)(10), 1e-3);
  const t = ScheduleConfig.parse({ kind: 'timm-cosine', baseLr: 1, minLr: 0, epochs: 10, stepsPerEpoch: 5 });
  close(scheduleFromConfig(t)(25), 0.5);
  assert.equal(ScheduleConfig.safeParse({ kind: 'warmup-cosine', baseLr: -1, warmupSteps: 0, totalSteps: 1 }).success, false);
  assert.equal(ScheduleConfig.safeParse({ kind: 'linear' }).success, false);
});
