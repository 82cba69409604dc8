/**
 * sha256 helpers. Pure JS (@noble/hashes) so plan/ and workflows can compute keys
 * without Node's crypto; artifact streaming uses node:crypto in artifacts/ instead.
 */
import { sha256 } from '@noble/hashes/sha256';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils';
import { canonicalJson } from './canonical-json';

/** A sha256 hex digest that was computed by us, not an arbitrary string. */
export type Sha256Hex = string & { readonly __brand: 'Sha256Hex' };

const HEX64 = /^[0-9a-f]{64}$/;

export function isSha256Hex(s: string): s is Sha256Hex {
  return HEX64.test(s);
}

export function sha256Hex(data: string | Uint8Array): Sha256Hex {
  return bytesToHex(sha256(typeof data === 'string' ? utf8ToBytes(data) : data)) as Sha256Hex;
}

export function digestJson(value: unknown): Sha256Hex {
  return sha256Hex(canonicalJson(value));
}
