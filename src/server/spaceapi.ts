// The SpaceAPI v15 document (https://spaceapi.io): who the space is, and whether it is open, read from the door and a switch.
import type { BusClient } from '../auth-proxy/index.js';
import type { Clock } from '../core/clock.js';
import type { Envelope } from '../core/envelope.js';
import { MachineActuation, MachineInput, MachineStatus } from '../core/messages-machine.js';

/** A machine.input that says whether the space is open: `openValue` is the value that means open. */
export interface OpenInput {
  /** The device that reports it; null: that input on any device. */
  device: string | null;
  input: string;
  /** machine.input values are logical: 1 pressed / closed / present. A door contact is open at 0. */
  openValue: 0 | 1;
}

export interface SpaceApiOptions {
  space: string;
  url: string;
  logo: string;
  /** Omitted from the document when null (a space without a fixed place). */
  location: { lat: number; lon: number; address?: string; timezone?: string } | null;
  /** SpaceAPI contact fields; only those given appear. */
  contact: Partial<Record<ContactField, string>>;
  /**
   * The door. With an input, its contact decides (open while the input reads openValue). Without one, the space is
   * open for openForMinutesAfterEntry after each time the door opened (a machine.actuation 'open' that actuated);
   * device null: any door.
   */
  door: { device: string | null; input: string | null; openValue: 0 | 1 };
  /** A "space open" switch (a key switch by the door); when it has reported, it decides over the door. */
  switch: OpenInput | null;
  openForMinutesAfterEntry: number;
}

export const CONTACT_FIELDS = ['email', 'irc', 'matrix', 'ml', 'mastodon', 'xmpp', 'phone', 'issue_mail'] as const;
export type ContactField = (typeof CONTACT_FIELDS)[number];

/** The SpaceAPI v15 fields this endpoint fills. */
export interface SpaceApiDocument {
  api_compatibility: ['15'];
  space: string;
  logo: string;
  url: string;
  location?: { lat: number; lon: number; address?: string; timezone?: string };
  contact: Partial<Record<ContactField, string>>;
  /** `open` is left out while it is not known (v15: the state is temporarily unavailable). */
  state: { open?: boolean; lastchange?: number; message: string };
}

export interface SpaceApi {
  /** Listens for machine.input, machine.actuation and machine.status; the client must be started. */
  start(): Promise<void>;
  stop(): void;
  /** The document as of the clock now. */
  document(): SpaceApiDocument;
}

interface Reading {
  value: 0 | 1;
  changedAt: number;
}

type State = SpaceApiDocument['state'];

/** Builds the SpaceAPI state keeper; nothing is heard until `start()`. */
export function createSpaceApi({ bus, clock, options }: { bus: BusClient; clock: Clock; options: SpaceApiOptions }): SpaceApi {
  const windowMs = options.openForMinutesAfterEntry * 60_000;
  const doorContact: OpenInput | null =
    options.door.input === null
      ? null
      : { device: options.door.device, input: options.door.input, openValue: options.door.openValue };
  let switchReading: Reading | null = null;
  let doorReading: Reading | null = null;
  /** The last time the door opened, and when the run of openings that keeps the space open began. */
  let lastEntryAt: number | null = null;
  let openedAt: number | null = null;
  let listeningSince = clock.now();
  let stopped = false;

  const read = (previous: Reading | null, value: 0 | 1): Reading =>
    previous?.value === value ? previous : { value, changedAt: clock.now() };

  const entered = (at: number): void => {
    if (lastEntryAt !== null && at <= lastEntryAt) return;
    if (lastEntryAt === null || at >= lastEntryAt + windowMs) openedAt = at;
    lastEntryAt = at;
  };

  const isTheDoor = (device: string) => options.door.device === null || options.door.device === device;

  const fromReading = (reading: Reading, source: OpenInput, what: string): State => {
    const open = reading.value === source.openValue;
    return { open, lastchange: seconds(reading.changedAt), message: `${what} ${open ? 'open' : 'closed'}` };
  };

  const fromEntries = (): State => {
    const minutes = options.openForMinutesAfterEntry;
    const now = clock.now();
    if (lastEntryAt !== null && openedAt !== null && now < lastEntryAt + windowMs)
      return { open: true, lastchange: seconds(openedAt), message: `someone came in within the last ${minutes} minutes` };
    if (lastEntryAt !== null)
      return { open: false, lastchange: seconds(lastEntryAt + windowMs), message: `nobody came in for ${minutes} minutes` };
    // Nobody came in since we started listening: closed only once we have listened for a whole window.
    if (now - listeningSince >= windowMs) return { open: false, message: `nobody came in for ${minutes} minutes` };
    return { message: 'not known yet: listening to the door' };
  };

  const state = (): State => {
    if (options.switch && switchReading) return fromReading(switchReading, options.switch, 'switched');
    if (doorContact) {
      return doorReading ? fromReading(doorReading, doorContact, 'door') : { message: 'not known yet: no reading from the door' };
    }
    return fromEntries();
  };

  return {
    async start() {
      listeningSince = clock.now();
      await bus.listen(MachineInput, (input, envelope) => {
        if (stopped || !speaksForItself(input.device, envelope)) return;
        if (options.switch && matches(options.switch, input)) switchReading = read(switchReading, input.value);
        if (doorContact && matches(doorContact, input)) doorReading = read(doorReading, input.value);
      });
      await bus.listen(MachineActuation, (actuation, envelope) => {
        if (stopped || doorContact || !speaksForItself(actuation.device, envelope)) return;
        if (actuation.action === 'open' && actuation.outcome === 'actuated' && isTheDoor(actuation.device)) entered(clock.now());
      });
      // A door's retained heartbeat names its last opening, so an entry just before the Server started still counts.
      await bus.listen(MachineStatus, (status, envelope) => {
        if (stopped || doorContact || !speaksForItself(status.device, envelope)) return;
        if (status.kind === 'door' && status.lastActuationAt !== null && isTheDoor(status.device))
          entered(Math.min(status.lastActuationAt, clock.now()));
      });
    },
    stop() {
      stopped = true;
    },
    document() {
      const { space, logo, url, location, contact } = options;
      return {
        api_compatibility: ['15'],
        space,
        logo,
        url,
        ...(location ? { location: { ...location } } : {}),
        contact: { ...contact },
        state: state(),
      };
    },
  };
}

/** A device reports only about itself: the device a payload names is the client that signed it. */
function speaksForItself(device: string, envelope: Envelope): boolean {
  return device === envelope.issuer;
}

function matches(source: OpenInput, input: { device: string; input: string }): boolean {
  return (source.device === null || source.device === input.device) && source.input === input.input;
}

/** SpaceAPI times are Unix seconds. */
function seconds(ms: number): number {
  return Math.floor(ms / 1000);
}
