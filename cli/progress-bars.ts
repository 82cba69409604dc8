/**
 * Live progress of running stages in a terminal: one cli-progress bar per stage, fed by the
 * heartbeat details ({stage, step, total, message}) of the workflow's pending activities.
 */
import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import type { WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { StageHeartbeat } from '../activities/stage-contract';

export class StageProgressBars {
  private readonly multi = new MultiBar(
    { format: ' {bar} {stage} {value}/{total} {message}', hideCursor: true, clearOnComplete: true, stopOnComplete: false, stream: process.stderr },
    Presets.shades_grey,
  );
  private readonly bars = new Map<string, SingleBar>();

  /** Reads heartbeats of pending stage activities and updates (or drops) the bars. */
  async update(handle: WorkflowHandle): Promise<void> {
    const desc = await handle.describe();
    const live = new Set<string>();
    for (const pa of desc.raw.pendingActivities ?? []) {
      const payload = pa.heartbeatDetails?.payloads?.[0];
      if (pa.activityType?.name !== 'runStage' || payload === undefined || payload === null) continue;
      const hb = defaultPayloadConverter.fromPayload<StageHeartbeat>(payload);
      live.add(hb.stage);
      const total = hb.total ?? 0;
      const payloadFields = { stage: hb.stage, message: `${hb.message ?? ''}${(pa.attempt ?? 1) > 1 ? ` (attempt ${pa.attempt})` : ''}` };
      const bar = this.bars.get(hb.stage);
      if (bar === undefined) this.bars.set(hb.stage, this.multi.create(total, hb.step, payloadFields));
      else {
        bar.setTotal(total);
        bar.update(hb.step, payloadFields);
      }
    }
    for (const [stage, bar] of this.bars) {
      if (!live.has(stage)) {
        this.multi.remove(bar);
        this.bars.delete(stage);
      }
    }
  }

  /** Prints a line above the bars. */
  log(line: string): void {
    this.multi.log(`${line}\n`);
  }

  stop(): void {
    this.multi.stop();
  }
}
