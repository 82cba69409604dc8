/** What a run record (and a manifest) says about one attempt's log (stored by artifacts/attempt-logs.ts). */
export interface AttemptLogRef {
  readonly attempt: number;
  readonly outcome: 'succeeded' | 'failed' | 'cancelled';
  readonly digest: string;
  readonly bytes: number;
  /** Bytes before bounding: larger than `bytes` when the middle was cut out. */
  readonly originalBytes: number;
  readonly worker: string;
  readonly startedAt: string;
  readonly finishedAt: string;
}
