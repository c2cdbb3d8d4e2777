// The wire inside one device: MachineNotifier hands each tap to MachineMgr directly as well as to the bus, so the
// door can still decide from its allow-list when the bus is gone. The process that runs both connects them.
import type { HashedFob } from './fob-hash.js';

export interface LocalTap {
  /** The id of the signed tap event (sealed even when it could not be sent). */
  tapId: string;
  device: string;
  fob: HashedFob;
  at: number;
  /** Whether the tap went out on the bus; when not, only the device itself can decide it. */
  published: boolean;
}

export type LocalTapListener = (tap: LocalTap) => void;

export class DeviceLink {
  readonly #listeners = new Map<string, LocalTapListener[]>();

  /** MachineMgr listens for the taps of its device; the returned function stops listening. */
  onTap(device: string, listener: LocalTapListener): () => void {
    this.#listeners.set(device, [...(this.#listeners.get(device) ?? []), listener]);
    return () =>
      this.#listeners.set(
        device,
        (this.#listeners.get(device) ?? []).filter((known) => known !== listener),
      );
  }

  /** MachineNotifier passes each tap on; a listener that throws does not stop the others. */
  tap(tap: LocalTap): void {
    for (const listener of this.#listeners.get(tap.device) ?? []) {
      try {
        listener(tap);
      } catch {
        // The listener logs its own failures; the reader must keep reading.
      }
    }
  }
}

const SHARED_LINK = 'core.deviceLink';

/** The link of the process: one per process, shared by the services in it. */
export function deviceLinkOf(shared: Record<string, unknown>): DeviceLink {
  return (shared[SHARED_LINK] ??= new DeviceLink()) as DeviceLink;
}
