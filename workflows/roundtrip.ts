/**
 * Demo workflow of the first vertical slice: an activity writes an artifact to the store,
 * another reads it back and verifies its sha256. Deterministic: only activity calls.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { RoundTripActivities, VerifiedArtifact } from '../activities/roundtrip-activities';

const { writeArtifact, verifyArtifact } = proxyActivities<RoundTripActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 3, nonRetryableErrorTypes: ['CONFIG_INVALID', 'DIGEST_MISMATCH'] },
});

export interface RoundTripInput {
  readonly key: string;
  readonly text: string;
}

export async function roundTripWorkflow(input: RoundTripInput): Promise<VerifiedArtifact> {
  const ref = await writeArtifact({ key: input.key, text: input.text });
  return verifyArtifact(ref);
}
