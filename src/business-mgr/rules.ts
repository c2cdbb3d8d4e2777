// The rules, as pure functions of the cache: who may open a door now, which product a tap buys, how many cans
// an invoice paid for, and what a door's offline allow-list holds.
import { accessAllows, doorAccess, type DoorWindow } from '../core/door-access.js';
import { fobKey } from '../core/door-access.js';
import type { AllowListPayload } from '../core/door-access.js';
import type { Decision } from '../core/messages-machine.js';
import type { CachedMember, Product, SpacePolicies } from './cache.js';

export type Verdict = { allowed: boolean; reason: Decision['reason'] };

/** A button press counts for a tap this long after it. */
export const BUTTON_WINDOW_MS = 30_000;

/**
 * Whether a member may open a door at `at` (a time of the tap): left, inactive, then the door-access rule in the
 * space's time zone; `doorGroups` are the door's own groups when it sets them.
 */
export function decideDoor(
  member: CachedMember | undefined,
  policies: SpacePolicies,
  doorGroups: readonly string[] | undefined,
  at: number,
): Verdict {
  if (!member) return { allowed: false, reason: 'unknown-fob' };
  if (member.left) return { allowed: false, reason: 'left' };
  if (!member.active) return { allowed: false, reason: 'inactive' };
  const access = doorAccess(member.groups, policies, doorGroups);
  if (access.kind === 'always') return { allowed: true, reason: 'keyholder' };
  if (accessAllows(access, at, policies.timezone)) return { allowed: true, reason: 'member-active' };
  // The door's groups exclude all of theirs, where the space's door hours would have let them in somewhere.
  if (access.kind === 'never' && doorGroups !== undefined && doorAccess(member.groups, policies).kind !== 'never') {
    return { allowed: false, reason: 'not-allowed-here' };
  }
  return { allowed: false, reason: 'outside-hours' };
}

/**
 * The product a tap at a vending machine buys: the active one whose output was pressed on that machine within
 * 30 s before the tap, else the machine's only active product, else none.
 */
export function productForTap(
  products: ReadonlyMap<string, Product>,
  device: string,
  lastButton: { input: string; at: number } | undefined,
  tapAt: number,
): { key: string; product: Product } | undefined {
  const onMachine = [...products].filter(([, product]) => product.machine === device && product.active);
  if (lastButton && tapAt - lastButton.at >= 0 && tapAt - lastButton.at <= BUTTON_WINDOW_MS) {
    const pressed = onMachine.find(([, product]) => product.output === lastButton.input);
    if (pressed) return { key: pressed[0], product: pressed[1] };
  }
  if (onMachine.length === 1) return { key: onMachine[0]![0], product: onMachine[0]![1] };
  return undefined;
}

export type AllowListContent = Pick<AllowListPayload, 'timezone' | 'schedules' | 'entries'>;

/**
 * Every active member's fobs that may open this door offline: keyholders at all hours (-1), others by an index
 * into the door's deduplicated schedules; members who may never enter here are left out. Sorted, so the same
 * cache always gives the same list.
 */
export function allowListContent(
  members: Iterable<CachedMember>,
  policies: SpacePolicies,
  doorGroups: readonly string[] | undefined,
): AllowListContent {
  const schedules: DoorWindow[][] = [];
  const scheduleIndex = new Map<string, number>();
  const entries: [string, number][] = [];
  for (const member of members) {
    if (member.left || !member.active || member.fobs.length === 0) continue;
    const access = doorAccess(member.groups, policies, doorGroups);
    if (access.kind === 'never') continue;
    let index = -1;
    if (access.kind === 'windows') {
      const windows = access.windows.slice(0, 64);
      const key = JSON.stringify(windows);
      let found = scheduleIndex.get(key);
      if (found === undefined) {
        // The contract allows 64 schedules; beyond that a member keeps the hub's online decision only.
        if (schedules.length >= 64) continue;
        found = schedules.length;
        schedules.push(windows);
        scheduleIndex.set(key, found);
      }
      index = found;
    }
    for (const fob of member.fobs) entries.push([fobKey(fob.hash), index]);
  }
  entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return { timezone: policies.timezone, schedules, entries };
}
