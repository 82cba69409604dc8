/**
 * The first vertical slice: write an artifact, read it back, check its sha256.
 * createRoundTripActivities({store}) is the dependency-injection factory the worker registers.
 */
import { PipelineError } from '../core/errors';
import type { Sha256Hex } from '../core/digest';
import { sha256OfStream } from '../artifacts/hashing';
import type { ArtifactRef, ArtifactStore } from '../artifacts/store';
import { toApplicationFailure } from './failures';

export interface VerifiedArtifact {
  readonly ref: ArtifactRef;
  readonly readBackDigest: Sha256Hex;
  readonly storeUri: string;
}

export function createRoundTripActivities(deps: { store: ArtifactStore }) {
  return {
    async writeArtifact(input: { key: string; text: string }): Promise<ArtifactRef> {
      try {
        return await deps.store.put(input.key, input.text);
      } catch (e) {
        throw toApplicationFailure(e);
      }
    },
    async verifyArtifact(ref: ArtifactRef): Promise<VerifiedArtifact> {
      try {
        const { digest, bytes } = await sha256OfStream(await deps.store.get(ref.key));
        if (digest !== ref.digest || bytes !== ref.bytes) {
          throw new PipelineError(
            'DIGEST_MISMATCH',
            `artifact '${ref.key}' in ${deps.store.uri} reads back as sha256 ${digest} (${bytes} B), expected ${ref.digest} (${ref.bytes} B)`,
          );
        }
        return { ref, readBackDigest: digest, storeUri: deps.store.uri };
      } catch (e) {
        throw toApplicationFailure(e);
      }
    },
  };
}

export type RoundTripActivities = ReturnType<typeof createRoundTripActivities>;
