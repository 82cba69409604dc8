/**
 * Stage resource requests and worker resource offers: units, parsing and matching. Pure.
 *
 * A stage asks `resources: {gpus: 1, memory: 16GiB, cpus: 4}`; a worker offers what its host has
 * (cli/worker-resources.ts detects it, `robustok worker --resources` overrides it). A request is met
 * by a worker whose every offered amount is at least the asked one. Nothing is reserved or counted
 * down while stages run: a queue is a pool, and its worker's --concurrency decides how many stages
 * share one host (so `gpus: 1` means "a host with at least one GPU", not "one GPU of its own").
 */

export const RESOURCE_NAMES = ['gpus', 'memory', 'cpus'] as const;
export type ResourceName = (typeof RESOURCE_NAMES)[number];

/** What a stage asks for, as the spec wrote it (memory: bytes or a string with a unit). */
export interface ResourceRequest {
  readonly gpus?: number;
  readonly memory?: number | string;
  readonly cpus?: number;
}

/** What a worker has. */
export interface ResourceOffer {
  readonly gpus: number;
  readonly memoryBytes: number;
  readonly cpus: number;
}

const UNITS: Readonly<Record<string, number>> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
  // Kubernetes spells the binary units without the B.
  ki: 2 ** 10,
  mi: 2 ** 20,
  gi: 2 ** 30,
  ti: 2 ** 40,
};

export const MEMORY_HINT = 'a memory size such as 16GiB, 512MiB, 64GB or a number of bytes';

/**
 * A plain number below this is refused: `memory: 16` means 16 bytes, which nobody asks for; it is
 * almost surely 16GiB with the unit forgotten.
 */
const MIN_PLAIN_BYTES = 2 ** 20;

/** Bytes of a memory amount, or the reason it is not one (a message naming the fix). */
export function parseMemory(value: number | string): { bytes: number } | { error: string } {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value <= 0) return { error: `memory must be greater than 0: ${MEMORY_HINT}` };
    if (value < MIN_PLAIN_BYTES)
      return { error: `memory ${value} is ${value} bytes: write the unit, e.g. ${value}GiB (a plain number counts bytes, and must be at least 1MiB)` };
    return { bytes: Math.round(value) };
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$/.exec(value);
  const unit = m?.[2]?.toLowerCase() ?? '';
  const factor = unit === '' ? 1 : UNITS[unit];
  if (m === null || factor === undefined) return { error: `"${value}" is not ${MEMORY_HINT} (units: B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)` };
  const n = Number(m[1]);
  if (unit === '') return parseMemory(n);
  const bytes = Math.round(n * factor);
  return bytes > 0 ? { bytes } : { error: `memory must be greater than 0: ${MEMORY_HINT}` };
}

/** "16 GiB", "7.6 GiB", "512 MiB": binary units, at most one decimal. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  const text = Number.isInteger(v) ? String(v) : v.toFixed(1).replace(/\.0$/, '');
  return `${text} ${units[i] ?? 'B'}`;
}

/** The request's amounts as numbers (memory in bytes); absent names ask for nothing. Throws on bad memory (the spec loader refuses it first). */
export function requestAmounts(r: ResourceRequest): Partial<Record<ResourceName, number>> {
  const out: Partial<Record<ResourceName, number>> = {};
  if (r.gpus !== undefined) out.gpus = r.gpus;
  if (r.cpus !== undefined) out.cpus = r.cpus;
  if (r.memory !== undefined) {
    const m = parseMemory(r.memory);
    if ('error' in m) throw new Error(m.error);
    out.memory = m.bytes;
  }
  return out;
}

export function isEmptyRequest(r: ResourceRequest | undefined): boolean {
  return r === undefined || RESOURCE_NAMES.every((n) => r[n] === undefined);
}

function offerAmount(o: ResourceOffer, name: ResourceName): number {
  return name === 'memory' ? o.memoryBytes : o[name];
}

function show(name: ResourceName, amount: number): string {
  return `${name} ${name === 'memory' ? formatBytes(amount) : String(amount)}`;
}

export interface Shortfall {
  readonly name: ResourceName;
  readonly asked: number;
  readonly offered: number;
}

/** What `offer` lacks to meet `request` (empty: it meets it). */
export function shortfalls(request: ResourceRequest, offer: ResourceOffer): Shortfall[] {
  const asked = requestAmounts(request);
  const out: Shortfall[] = [];
  for (const name of RESOURCE_NAMES) {
    const a = asked[name];
    if (a !== undefined && offerAmount(offer, name) < a) out.push({ name, asked: a, offered: offerAmount(offer, name) });
  }
  return out;
}

export function meets(offer: ResourceOffer, request: ResourceRequest): boolean {
  return shortfalls(request, offer).length === 0;
}

/** "gpus 1, memory 16 GiB" */
export function describeRequest(r: ResourceRequest): string {
  const a = requestAmounts(r);
  return RESOURCE_NAMES.filter((n) => a[n] !== undefined)
    .map((n) => show(n, a[n] ?? 0))
    .join(', ');
}

/** "gpus 0, memory 7.6 GiB, cpus 2" */
export function describeOffer(o: ResourceOffer): string {
  return RESOURCE_NAMES.map((n) => show(n, offerAmount(o, n))).join(', ');
}

/** "gpus 1 > 0, memory 16 GiB > 7.6 GiB" */
export function describeShortfalls(s: readonly Shortfall[]): string {
  return s.map((x) => `${x.name} ${x.name === 'memory' ? `${formatBytes(x.asked)} > ${formatBytes(x.offered)}` : `${x.asked} > ${x.offered}`}`).join(', ');
}

/**
 * `gpus=2,memory=64GiB,cpus=16` (any subset, in any order) → the amounts given, or the reason it is
 * not such a list. Used by `robustok worker --resources` to override what was detected.
 */
export function parseOfferOverrides(text: string): { offer: Partial<ResourceOffer> } | { error: string } {
  const offer: { gpus?: number; memoryBytes?: number; cpus?: number } = {};
  const form = 'use name=value pairs separated by commas, e.g. gpus=2,memory=64GiB,cpus=16';
  for (const part of text.split(',').map((p) => p.trim())) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = (eq < 0 ? part : part.slice(0, eq)).trim();
    const value = eq < 0 ? '' : part.slice(eq + 1).trim();
    if (eq < 0 || value === '') return { error: `"${part}" has no value: ${form}` };
    if (name === 'memory') {
      const m = parseMemory(value);
      if ('error' in m) return { error: m.error };
      offer.memoryBytes = m.bytes;
    } else if (name === 'gpus' || name === 'cpus') {
      const n = Number(value);
      const ok = name === 'gpus' ? Number.isInteger(n) && n >= 0 : Number.isFinite(n) && n > 0;
      if (!ok) return { error: `${name === 'gpus' ? 'gpus is a whole number ≥ 0' : 'cpus is a number > 0'}, got "${value}"` };
      offer[name] = n;
    } else {
      return { error: `unknown resource "${name}" (known: ${RESOURCE_NAMES.join(', ')}): ${form}` };
    }
  }
  return { offer };
}
