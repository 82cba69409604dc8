/**
 * The only place that maps a stage kind to its implementation. Kinds that load tfjs are imported
 * on first use, so a CLI run whose stages are all cached never pays for loading TensorFlow.
 */
import { commandStage } from './command';
import type { StageImpl } from './stage';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyStage = StageImpl<any>;

const loaders: Readonly<Record<string, () => Promise<AnyStage>>> = {
  command: () => Promise.resolve(commandStage),
  'eval.fid': () => import('./eval-fid-stage.js').then((m) => m.evalFidStage),
  'dataset.synthetic': () => import('./dataset-synthetic.js').then((m) => m.datasetSyntheticStage),
  'generator.train': () => import('./generator-train.js').then((m) => m.generatorTrainStage),
  'generator.sample': () => import('./generator-sample.js').then((m) => m.generatorSampleStage),
  'generator.sample-merge': () => import('./generator-sample-merge.js').then((m) => m.generatorSampleMergeStage),
  'posttrain.pairs': () => import('./posttrain-pairs.js').then((m) => m.posttrainPairsStage),
  'posttrain.pairs-merge': () => import('./posttrain-pairs-merge.js').then((m) => m.posttrainPairsMergeStage),
  'tokenizer.train': () => import('./tokenizer-train.js').then((m) => m.tokenizerTrainStage),
  'tokenizer.posttrain': () => import('./tokenizer-posttrain.js').then((m) => m.tokenizerPosttrainStage),
  'tokenizer.pretokenize': () => import('./tokenizer-pretokenize.js').then((m) => m.tokenizerPretokenizeStage),
  'tokenizer.pretokenize-merge': () => import('./tokenizer-pretokenize.js').then((m) => m.tokenizerPretokenizeMergeStage),
  'files.import': () => import('./files-import.js').then((m) => m.filesImportStage),
  'weights.import': () => import('./weights-import.js').then((m) => m.weightsImportStage),
};

export async function stageImpl(kind: string): Promise<StageImpl<unknown> | undefined> {
  const load = loaders[kind];
  return load === undefined ? undefined : ((await load()) as StageImpl<unknown>);
}
