/**
 * Everything the report shows, read from the store: the run record, the plan stored beside it
 * (sweep values, DAG edges), each stage run's manifest and metrics history, the FID network's
 * provenance and the first images of each arm's samples. Reads are small: the sample grids read
 * only the start of a samples batch.
 */
import { blobKey } from '../artifacts/cas';
import { lookupManifest, type Manifest, type OutputEntry } from '../artifacts/manifest';
import { readRunPlan } from '../artifacts/run-plans';
import { readStageHistory, type StageHistory } from '../artifacts/stage-history';
import type { ArtifactStore } from '../artifacts/store';
import { errorMessage } from '../core/errors';
import { mapLimit } from '../core/map-limit';
import type { RunRecord, StageRunRecord } from '../core/run-record';
import type { Plan } from '../plan/types';
import { buildPivot, type Pivot } from './pivot';
import { sampleGridOf, type SampleGrid } from './sample-grid';

export interface StageView {
  readonly rec: StageRunRecord;
  /** Undefined for runs without a committed entry (failed, skipped) or when it is gone from the store. */
  readonly manifest?: Manifest;
  readonly history?: StageHistory;
}

export interface ArmGrid {
  readonly arm: number;
  readonly label: string;
  readonly stageRunId?: string;
  readonly grid?: SampleGrid;
  /** Why there is no grid. */
  readonly note?: string;
}

export interface FidProvenance {
  readonly stageRunId: string;
  readonly stageId: string;
  readonly weightsDigest: string | null;
  readonly network?: string;
  readonly referenceKind?: string;
  readonly comparable: boolean;
  readonly why: string;
}

export interface ReportData {
  readonly record: RunRecord;
  readonly plan?: Plan;
  readonly storeUri: string;
  readonly stages: readonly StageView[];
  readonly edges: readonly { from: string; to: string }[];
  readonly pivot: Pivot;
  readonly grids: readonly ArmGrid[];
  readonly provenance: readonly FidProvenance[];
  /** Problems met while reading (the report is still written). */
  readonly warnings: readonly string[];
}

/** Arms with a sample grid at most (each grid is a few kB to a few hundred kB of PNG). */
const MAX_GRID_ARMS = 64;
const SAMPLE_KINDS = ['generator.sample-merge', 'generator.sample'];

/** Producer → consumer edges: from the plan, else by matching input digests to outputs of runs sharing an arm. */
function dagEdges(record: RunRecord, plan: Plan | undefined): { from: string; to: string }[] {
  const ids = new Set(record.stages.map((s) => s.id));
  if (plan !== undefined) {
    return plan.runs.flatMap((r) =>
      Object.values(r.inputs)
        .filter((i) => ids.has(i.run) && ids.has(r.id))
        .map((i) => ({ from: i.run, to: r.id })),
    );
  }
  const edges: { from: string; to: string }[] = [];
  for (const s of record.stages) {
    for (const digest of Object.values(s.material?.inputDigests ?? {})) {
      const from = record.stages.find(
        (p) => p.id !== s.id && p.arms.some((a) => s.arms.includes(a)) && Object.values(p.outputs).some((o) => o.digest === digest),
      );
      if (from !== undefined && !edges.some((e) => e.from === from.id && e.to === s.id)) edges.push({ from: from.id, to: s.id });
    }
  }
  return edges;
}

/** The output of an arm that holds its samples: generator.sample(-merge) first, then an output named samples/images. */
function samplesOf(views: readonly StageView[], arm: number): { view: StageView; name: string; out: OutputEntry } | undefined {
  const mine = views.filter((v) => v.rec.arms.includes(arm) && (v.rec.outcome === 'ran' || v.rec.outcome === 'cached'));
  const entry = (v: StageView, name: string) => v.manifest?.outputs[name] ?? (v.rec.outputs[name] as OutputEntry | undefined);
  for (const kind of SAMPLE_KINDS) {
    const v = mine.filter((m) => m.rec.kind === kind).at(-1);
    const out = v && entry(v, 'samples');
    if (v && out) return { view: v, name: 'samples', out };
  }
  for (const name of ['samples', 'images']) {
    const v = mine.filter((m) => entry(m, name) !== undefined).at(-1);
    const out = v && entry(v, name);
    if (v && out) return { view: v, name, out };
  }
  return undefined;
}

/** What a metric's feature network was, and whether its numbers can stand next to published ones. */
async function provenanceOf(store: ArtifactStore, v: StageView): Promise<FidProvenance | undefined> {
  const digest = v.rec.metrics.weightsDigest;
  if (v.rec.outcome !== 'ran' && v.rec.outcome !== 'cached') return undefined;
  if (v.rec.kind !== 'eval.fid' && typeof digest !== 'string') return undefined;
  let network: string | undefined;
  let referenceKind: string | undefined;
  let weightsDigest = typeof digest === 'string' ? digest : null;
  const metricsOut = v.manifest?.outputs.metrics;
  if (v.rec.kind === 'eval.fid' && metricsOut?.type === 'file' && metricsOut.bytes < 1 << 20) {
    try {
      const report = JSON.parse((await store.getBytes(blobKey(metricsOut.digest))).toString('utf8')) as {
        features?: { network?: string; weightsDigest?: string | null };
        inputs?: { a?: { kind?: string } };
      };
      network = report.features?.network;
      weightsDigest = report.features?.weightsDigest ?? weightsDigest;
      referenceKind = report.inputs?.a?.kind;
    } catch {
      // The stage's metrics still carry the digest.
    }
  }
  const base = { stageRunId: v.rec.id, stageId: v.rec.stageId, weightsDigest, network, referenceKind };
  if (weightsDigest === null)
    return { ...base, comparable: false, why: 'the feature network is unknown (precomputed features or statistics without provenance)' };
  if (weightsDigest.startsWith('random-init'))
    return { ...base, comparable: false, why: `a randomly initialised Inception (${weightsDigest}) computed these numbers: they check the wiring only` };
  if (network !== undefined && network !== 'inception-v3-fid-2015-12-05')
    return { ...base, comparable: false, why: `the feature network is ${network}, not the FID Inception-v3 (2015-12-05)` };
  if (referenceKind !== undefined && referenceKind !== 'npz-stats')
    return {
      ...base,
      comparable: false,
      why: `the reference is ${referenceKind === 'image-folder' ? 'an image folder' : `a ${referenceKind}`}, not a reference batch's statistics (e.g. ADM's VIRTUAL_imagenet256_labeled.npz)`,
    };
  return {
    ...base,
    comparable: true,
    why: `Inception weights ${weightsDigest}: comparable with published numbers only if these are the converted pt_inception-2015-12-05 weights and the reference is the ADM reference batch`,
  };
}

export async function collectReport(store: ArtifactStore, record: RunRecord): Promise<ReportData> {
  const warnings: string[] = [];
  const plan = await readRunPlan(store, record.runId);
  const stages = await mapLimit(record.stages, 8, async (rec): Promise<StageView> => {
    if (rec.key === undefined || (rec.outcome !== 'ran' && rec.outcome !== 'cached')) return { rec };
    try {
      const found = await lookupManifest(store, rec.key, { verify: false });
      const history = await readStageHistory(store, rec.key);
      if (found.state !== 'hit')
        warnings.push(
          `stage ${rec.id}: cache entry ${rec.key.slice(0, 12)}… is ${found.state === 'miss' ? 'no longer in the store' : `unusable (${found.reason})`}`,
        );
      return { rec, manifest: found.state === 'hit' ? found.manifest : undefined, history };
    } catch (e) {
      warnings.push(`stage ${rec.id}: could not read its entry: ${errorMessage(e)}`);
      return { rec };
    }
  });
  const gridOfRun = new Map<string, Promise<SampleGrid | undefined>>();
  const grids = await mapLimit(record.arms.slice(0, MAX_GRID_ARMS), 4, async (arm): Promise<ArmGrid> => {
    const found = samplesOf(stages, arm.index);
    if (found === undefined) return { arm: arm.index, label: arm.label, note: 'no samples output in this arm' };
    const id = `${found.view.rec.id}.${found.name}`;
    if (!gridOfRun.has(id)) gridOfRun.set(id, sampleGridOf(store, found.out, id));
    try {
      const grid = await gridOfRun.get(id);
      return { arm: arm.index, label: arm.label, stageRunId: id, grid, note: grid === undefined ? `${id} holds no images this report can read` : undefined };
    } catch (e) {
      return { arm: arm.index, label: arm.label, stageRunId: id, note: `could not read ${id}: ${errorMessage(e)}` };
    }
  });
  if (record.arms.length > MAX_GRID_ARMS) warnings.push(`sample grids of the first ${MAX_GRID_ARMS} of ${record.arms.length} arms`);
  const provenance = (await mapLimit(stages, 8, (v) => provenanceOf(store, v))).filter((p): p is FidProvenance => p !== undefined);
  return { record, plan, storeUri: store.uri, stages, edges: dagEdges(record, plan), pivot: buildPivot(record, plan), grids, provenance, warnings };
}
