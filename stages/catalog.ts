/** The catalog of stage kinds known to spec validation and planning (descriptors only, no stage code). */
import { commandDescriptor } from './command-config';
import { datasetSyntheticDescriptor } from './dataset-synthetic-config';
import { catalogOf, type StageCatalog } from './descriptor';
import { evalFidDescriptor } from './eval-fid-config';
import { filesImportDescriptor } from './files-import-config';
import { generatorSampleDescriptor, generatorSampleMergeDescriptor } from './generator-sample-config';
import { generatorTrainDescriptor } from './generator-train-config';
import { posttrainPairsDescriptor, posttrainPairsMergeDescriptor } from './posttrain-pairs-config';
import { tokenizerPosttrainDescriptor } from './tokenizer-posttrain-config';
import { tokenizerTrainDescriptor } from './tokenizer-train-config';
import { tokenizerPretokenizeDescriptor, tokenizerPretokenizeMergeDescriptor } from './tokenizer-pretokenize-config';
import { weightsImportDescriptor } from './weights-import-config';

export const stageCatalog: StageCatalog = catalogOf([
  commandDescriptor,
  evalFidDescriptor,
  datasetSyntheticDescriptor,
  generatorTrainDescriptor,
  generatorSampleDescriptor,
  generatorSampleMergeDescriptor,
  posttrainPairsDescriptor,
  posttrainPairsMergeDescriptor,
  tokenizerTrainDescriptor,
  tokenizerPosttrainDescriptor,
  tokenizerPretokenizeDescriptor,
  tokenizerPretokenizeMergeDescriptor,
  filesImportDescriptor,
  weightsImportDescriptor,
]);
