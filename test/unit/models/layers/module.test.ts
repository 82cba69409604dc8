import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { Linear } from '../../../../models/layers/linear';
import { Module, ModuleList } from '../../../../models/layers/module';
import { Rng } from '../../../../models/training/rng';
import { expectNoTensorLeak } from '../../../helpers/tensors';

class Toy extends Module {
  readonly blocks: ModuleList<Linear>;
  constructor(rng: Rng) {
    super();
    this.param('cls_token', tf.zeros([1, 1, 2]));
    this.buffer('running', tf.zeros([2]));
    this.blocks = this.module('blocks', new ModuleList([0, 1].map(() => new Linear({ inFeatures: 2, outFeatures: 2, rng }))));
  }
  dup(): void {
    this.param('cls_token', tf.zeros([1]));
  }
}

test('dotted names, buffers only in the state dict, freezing, and full disposal', async () => {
  await expectNoTensorLeak(() => {
    const m = new Toy(Rng.fromSeed(1));
    assert.deepEqual([...m.parameters().keys()], ['cls_token', 'blocks.0.weight', 'blocks.0.bias', 'blocks.1.weight', 'blocks.1.bias']);
    assert.deepEqual([...m.stateDict().keys()], ['cls_token', 'running', 'blocks.0.weight', 'blocks.0.bias', 'blocks.1.weight', 'blocks.1.bias']);
    assert.deepEqual([...m.stateDict('model.').keys()][1], 'model.running');
    m.blocks.items[0]!.setTrainable(false);
    assert.deepEqual([...m.trainableParameters().keys()], ['cls_token', 'blocks.1.weight', 'blocks.1.bias']);
    assert.equal(m.numParameters(), 2 + 2 * (4 + 2));
    assert.throws(() => m.dup(), /duplicate/);
    m.dispose();
  });
});
