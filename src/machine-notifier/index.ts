// MachineNotifier: runs on a door or vending machine. Reads fobs (USB keyboard reader, serial reader, stdin, or
// simulated over the bus), hashes each at once, turns reads into debounced and rate-limited taps, hands every tap to
// the device's own MachineMgr and publishes it signed when the bus is up; watches GPIO buttons and sensors.
import { createBusClient, type BusClient } from '../auth-proxy/index.js';
import type { ReaderConfig } from '../core/config.js';
import type { PayloadOf } from '../core/contract.js';
import { deviceLinkOf } from '../core/device-link.js';
import { DctrlError } from '../core/errors.js';
import { hashFob, type HashedFob } from '../core/fob-hash.js';
import { createIdFactory } from '../core/ids.js';
import { MachineInput, MachineTap, MachineTopics, SimulateTap } from '../core/messages-machine.js';
import { SecretGet } from '../core/messages.js';
import type { Service, ServiceContext } from '../core/service.js';
import { MachineNotifierError, type MalformedReadCode } from './errors.js';
import { defaultEvdevLayout, EvdevDecoder, type EvdevLayout } from './evdev.js';
import { decodeFobKey, FOB_KEY_SECRET, fobKeyPath, loadCachedFobKey, saveFobKey } from './fob-key.js';
import { createGpiomonBackend, type InputBackend, type InputLine, type Level } from './gpio.js';
import { InputDebouncer } from './inputs.js';
import { DEFAULT_INTER_KEY_TIMEOUT_MS, keysOfText, ReadAssembler, type ReadOutcome } from './read-assembler.js';
import { keepReading, openEvdev, openSerial, readStdin, type ReaderHandle } from './readers.js';
import { SerialFramer } from './serial.js';
import { TapGate } from './tap-gate.js';

export { MachineNotifierError, MachineNotifierErrorCodes, type MachineNotifierErrorCode } from './errors.js';
export { EVENT_BYTES, EvdevDecoder, defaultEvdevLayout, encodeInputEvent, type EvdevLayout } from './evdev.js';
export {
  createGpiomonBackend,
  detectGpiod,
  gpiogetArgs,
  gpiomonArgs,
  parseGpiodVersion,
  parseGpiogetOutput,
  parseGpiomonLine,
  type InputBackend,
  type InputLine,
  type InputWatcher,
  type Level,
} from './gpio.js';
export { fobKeyPath } from './fob-key.js';
export { SerialFramer, decimalOfHexFrame } from './serial.js';

export const SERVICE_NAME = 'machine-notifier';

/** The reader a tap came from, as the tap event names it. */
export type ReaderKind = 'evdev' | 'serial' | 'stdin' | 'simulated';

export interface MachineNotifierOptions {
  /** Where GPIO inputs come from: the libgpiod tools by default; a test double in tests. */
  inputBackend?: InputBackend;
  /** The input_event layout of the evdev reader: by this process's architecture unless set. */
  evdevLayout?: EvdevLayout;
  /** Keys further apart than this belong to no common read (default 500 ms). */
  interKeyTimeoutMs?: number;
  /** Between two attempts to join the bus while the hub is away (default 3 s). */
  busRetryMs?: number;
  /** One attempt to join the bus is given up after this long (default 15 s). */
  busStartTimeoutMs?: number;
  /** Between two attempts to open a reader that is missing or failed (default 5 s). */
  readerRetryMs?: number;
  /** Between two requests for the fob-hash-key while the Vault does not hand it out (default 30 s). */
  keyRetryMs?: number;
  /** The stdin reader's input (default process.stdin). */
  stdin?: NodeJS.ReadableStream;
}

export interface TapResult {
  /** The id of the sealed tap event; null when the read was no new tap. */
  tapId: string | null;
  debounced: boolean;
  rateLimited: boolean;
  published: boolean;
}

export interface MachineNotifierStats {
  /** Well-formed reads (10 digits and Enter) and simulated taps offered. */
  reads: number;
  /** Reads that became taps and went to the DeviceLink. */
  taps: number;
  /** Taps also sent on the bus, and taps only the DeviceLink had because the bus was down. */
  published: number;
  unpublished: number;
  /** Taps whose send failed after the bus had been up. */
  sendFailures: number;
  /** Repeated reads of a fob within tapDebounceMs. */
  debounced: number;
  /** Taps beyond maxTapsPerSecond, dropped. */
  rateLimited: number;
  /** Reads that were no tap, by code. */
  malformed: number;
  malformedByCode: Partial<Record<MalformedReadCode, number>>;
  /** Reads dropped because no fob-hash-key was known yet. */
  unhashed: number;
  /** Input changes passed on, and of them the ones the bus did not carry. */
  inputs: number;
  inputsUnpublished: number;
  busConnected: boolean;
  fobKey: 'none' | 'cached' | 'vault';
}

export interface MachineNotifier extends Service {
  /** Text typed by a reader (stdin, tests): CR or LF ends a read. @throws MachineNotifierError when not started. */
  handleReaderText(text: string, reader: ReaderKind): void;
  /** A fob already hashed (simulated taps). @throws MachineNotifierError when not started. */
  handleHashedFob(fob: HashedFob, reader: ReaderKind): TapResult;
  stats(): MachineNotifierStats;
}

const DEFAULT_BUS_RETRY_MS = 3_000;
const DEFAULT_BUS_START_TIMEOUT_MS = 15_000;
const DEFAULT_READER_RETRY_MS = 5_000;
const DEFAULT_KEY_RETRY_MS = 30_000;
const BUS_INSTANCE = 'notifier';

/**
 * Builds the MachineNotifier of one device; nothing is opened or connected until start().
 * @throws MachineNotifierError MACHINE_NOTIFIER_CONFIG_INVALID when the device is not configured or the credentials
 *   are not its own.
 */
export function createMachineNotifier(
  context: ServiceContext,
  device: string,
  options: MachineNotifierOptions = {},
): MachineNotifier {
  const { config, clock } = context;
  const settings = config.machines.devices[device];
  if (!settings) {
    throw new MachineNotifierError('MACHINE_NOTIFIER_CONFIG_INVALID', `"${device}" is not in machines.devices`);
  }
  if (context.credentials.client !== device) {
    throw new MachineNotifierError(
      'MACHINE_NOTIFIER_CONFIG_INVALID',
      `the MachineNotifier of "${device}" must use the device's own credentials, got those of "${context.credentials.client}"`,
    );
  }
  const reader = settings.reader;
  const log = context.logger.child({ service: SERVICE_NAME, device });
  const interKeyTimeoutMs = options.interKeyTimeoutMs ?? DEFAULT_INTER_KEY_TIMEOUT_MS;
  const busRetryMs = options.busRetryMs ?? DEFAULT_BUS_RETRY_MS;
  const keyRetryMs = options.keyRetryMs ?? DEFAULT_KEY_RETRY_MS;
  const keyPath = fobKeyPath(config.dataDir, device);
  const link = deviceLinkOf(context.shared);

  const stats: MachineNotifierStats = {
    reads: 0,
    taps: 0,
    published: 0,
    unpublished: 0,
    sendFailures: 0,
    debounced: 0,
    rateLimited: 0,
    malformed: 0,
    malformedByCode: {},
    unhashed: 0,
    inputs: 0,
    inputsUnpublished: 0,
    busConnected: false,
    fobKey: 'none',
  };

  let running = false;
  let gate = newGate();
  let fobKey: Buffer | undefined;
  /** The client taps are sealed with: the last one tried, so a tap has an id even before the bus was ever up. */
  let sealer: BusClient | undefined;
  const nextTapId = createIdFactory(clock);
  /** The client that joined the bus; it reconnects by itself from then on. */
  let bus: BusClient | undefined;
  let joining: Promise<void> | undefined;
  let stopNow: () => void = () => undefined;
  const timers = new Set<NodeJS.Timeout>();
  const expiryTimers = new Map<ReaderKind, NodeJS.Timeout>();
  const readers: ReaderHandle[] = [];
  const assemblers = new Map<ReaderKind, ReadAssembler>();
  let serialFramer: SerialFramer | undefined;
  let evdevDecoder: EvdevDecoder | undefined;
  let inputBackend: InputBackend | undefined;
  const debouncers = new Map<string, InputDebouncer>();
  let burstDropped = 0;
  let lastReaderProblem: string | undefined;

  function newClient(): BusClient {
    // A clean session: what was sent to the device while it was away is stale by now.
    return createBusClient(context, { instance: BUS_INSTANCE, persistentSession: false });
  }

  function newGate(): TapGate {
    return new TapGate({ debounceMs: settings!.tapDebounceMs, maxPerSecond: settings!.maxTapsPerSecond });
  }

  const later = (ms: number, run: () => void): void => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      run();
    }, ms);
    timers.add(timer);
  };

  const assertRunning = () => {
    if (!running || !sealer) {
      throw new MachineNotifierError('MACHINE_NOTIFIER_NOT_STARTED', `the MachineNotifier of "${device}" is not running`);
    }
    return sealer;
  };

  // ---- reads → taps ----

  const malformed = (code: MalformedReadCode, length: number, from: ReaderKind) => {
    stats.malformed++;
    stats.malformedByCode[code] = (stats.malformedByCode[code] ?? 0) + 1;
    // The length only: the digits are (part of) a fob number.
    log.warn({ code, reader: from, length }, `a read of ${length} characters is no tap`);
  };

  const outcome = (result: ReadOutcome, from: ReaderKind) => {
    // A reader's last bytes may land while it is being closed.
    if (!running) return;
    if (!result.ok) {
      malformed(result.code, result.length, from);
      return;
    }
    if (!fobKey) {
      stats.unhashed++;
      log.error(
        { code: 'MACHINE_NOTIFIER_NO_FOB_KEY', reader: from },
        'a fob was read but there is no fob-hash-key yet, so it was dropped; connect the device to the hub once',
      );
      return;
    }
    tap(hashFob(result.digits, fobKey), from);
  };

  /** A tap that cannot be sealed (directory expired, no recipient's key) is not sent: it is decided offline. */
  const sealTap = (client: BusClient, payload: PayloadOf<typeof MachineTap>) => {
    try {
      return client.seal(MachineTap, payload);
    } catch (error) {
      log.warn(
        { code: 'MACHINE_NOTIFIER_TAP_NOT_SEALED', cause: (error as DctrlError).code, err: (error as Error).message },
        'the tap could not be sealed, so it is not sent; MachineMgr decides it from its allow-list',
      );
      return undefined;
    }
  };

  const tap = (fob: HashedFob, from: ReaderKind): TapResult => {
    const client = assertRunning();
    const at = clock.now();
    stats.reads++;
    const verdict = gate.offer(fob.hash, at);
    if (verdict === 'debounced') {
      stats.debounced++;
      log.debug({ lastDigits: fob.lastDigits, reader: from }, 'same fob again within the debounce window: same tap');
      return { tapId: null, debounced: true, rateLimited: false, published: false };
    }
    if (verdict === 'rate-limited') {
      stats.rateLimited++;
      burstDropped++;
      const fields = { code: 'MACHINE_NOTIFIER_TAP_RATE_LIMITED', reader: from, perSecond: settings.maxTapsPerSecond };
      if (burstDropped === 1) log.warn(fields, `more than ${settings.maxTapsPerSecond} taps in a second: dropping the rest`);
      else log.debug(fields, 'tap dropped by the per-second limit');
      return { tapId: null, debounced: false, rateLimited: true, published: false };
    }
    if (burstDropped > 0) {
      log.warn(
        { code: 'MACHINE_NOTIFIER_TAP_RATE_LIMITED', dropped: burstDropped },
        `a burst of taps ended; ${burstDropped} dropped`,
      );
      burstDropped = 0;
    }
    // Sent only while the bus is up: a tap held in a queue could open the door minutes later. Sealing needs the
    // recipients' keys from the directory, so a tap that is not sent is not sealed; it needs only its id.
    const envelope = (bus?.connected ? sealTap(client, { device, fob, at, reader: from }) : undefined) ?? {
      id: nextTapId(),
    };
    const online = 'sig' in envelope;
    stats.taps++;
    if (online) stats.published++;
    else stats.unpublished++;
    // The device's own MachineMgr hears it first and at once, whether or not the bus carries it.
    link.tap({ tapId: envelope.id, device, fob, at, published: online });
    log.info({ tapId: envelope.id, lastDigits: fob.lastDigits, reader: from, published: online }, 'tap');
    if ('sig' in envelope) {
      bus!.sendSealed(MachineTap, envelope).catch((error: unknown) => {
        stats.sendFailures++;
        log.warn(
          { code: 'MACHINE_NOTIFIER_TAP_NOT_SENT', tapId: envelope.id, err: (error as Error).message },
          'the tap could not be sent; MachineMgr has it',
        );
      });
    }
    return { tapId: envelope.id, debounced: false, rateLimited: false, published: online };
  };

  const assemblerOf = (from: ReaderKind): ReadAssembler => {
    let assembler = assemblers.get(from);
    if (!assembler) assemblers.set(from, (assembler = new ReadAssembler(interKeyTimeoutMs)));
    return assembler;
  };

  /**
   * Keys left waiting for their Enter are dropped once the inter-key timeout has passed by the clock. A timer may fire
   * a little before the clock says the time is up (timers and the wall clock round differently), so it re-arms for
   * what is left rather than leaving the keys waiting for the next read.
   */
  const expireLater = (from: ReaderKind) => {
    clearTimeout(expiryTimers.get(from));
    expiryTimers.delete(from);
    const staleAt = from === 'serial' ? serialFramer?.staleAt : assemblerOf(from).staleAt;
    if (staleAt === undefined) return;
    const timer = setTimeout(
      () => {
        expiryTimers.delete(from);
        const results =
          from === 'serial' && serialFramer ? serialFramer.expire(clock.now()) : [assemblerOf(from).expire(clock.now())];
        for (const result of results) if (result) outcome(result, from);
        expireLater(from);
      },
      Math.min(interKeyTimeoutMs, Math.max(1, staleAt - clock.now())),
    );
    expiryTimers.set(from, timer);
  };

  const serialBytes = (chunk: Buffer) => {
    serialFramer ??= new SerialFramer(interKeyTimeoutMs);
    for (const result of serialFramer.push(chunk, clock.now())) outcome(result, 'serial');
    expireLater('serial');
  };

  const handleKeys = (keys: string[], from: ReaderKind) => {
    const assembler = assemblerOf(from);
    for (const key of keys) for (const result of assembler.key(key, clock.now())) outcome(result, from);
    expireLater(from);
  };

  // ---- readers ----

  const readerProblem = (error: MachineNotifierError) => {
    assemblers.get(reader.kind as ReaderKind)?.clear();
    serialFramer?.clear();
    evdevDecoder?.reset();
    if (error.message === lastReaderProblem) {
      log.debug({ code: error.code }, error.message);
      return;
    }
    lastReaderProblem = error.message;
    log.error({ code: error.code }, `fob reader: ${error.message}; trying again`);
  };

  const readerOpened = () => {
    if (lastReaderProblem !== undefined) log.info({ reader: reader.kind }, 'fob reader open again');
    lastReaderProblem = undefined;
  };

  const startReader = (config: ReaderConfig) => {
    const retryMs = options.readerRetryMs ?? DEFAULT_READER_RETRY_MS;
    switch (config.kind) {
      case 'evdev': {
        const decoder = (evdevDecoder = new EvdevDecoder(options.evdevLayout ?? defaultEvdevLayout()));
        readers.push(
          keepReading({
            path: config.path,
            open: openEvdev(config.path),
            onChunk: (chunk) => handleKeys(decoder.push(chunk), 'evdev'),
            onOpen: readerOpened,
            onLost: readerProblem,
            retryMs,
          }),
        );
        return;
      }
      case 'serial': {
        readers.push(
          keepReading({
            path: config.path,
            open: openSerial(config.path, config.baudRate),
            onChunk: serialBytes,
            onOpen: readerOpened,
            onLost: readerProblem,
            retryMs,
          }),
        );
        return;
      }
      case 'stdin':
        readers.push(readStdin(options.stdin ?? process.stdin, (text) => handleKeys(keysOfText(text), 'stdin')));
        return;
      case 'simulated':
      case 'none':
        return;
    }
  };

  // ---- GPIO inputs ----

  const publishInput = (input: (typeof settings.inputs)[number], value: Level, at: number) => {
    stats.inputs++;
    const online = bus !== undefined && bus.connected;
    log.info({ input: input.name, kind: input.kind, value, published: online }, 'input changed');
    if (!online) {
      // Like taps, a change is no use minutes later: it is not queued.
      stats.inputsUnpublished++;
      return;
    }
    bus!.publish(MachineInput, { device, input: input.name, kind: input.kind, value, at }).catch((error: unknown) => {
      stats.inputsUnpublished++;
      log.warn({ input: input.name, err: (error as Error).message }, 'the input change could not be sent');
    });
  };

  const startInputs = async () => {
    if (settings.inputs.length === 0) return;
    const lineKey = (line: InputLine) => `${line.chip.replace(/^\/dev\//, '')}:${line.line}`;
    for (const input of settings.inputs) {
      debouncers.set(lineKey(input), new InputDebouncer(input, clock, (value, at) => publishInput(input, value, at)));
    }
    const backend = (inputBackend = options.inputBackend ?? createGpiomonBackend({ logger: log }));
    try {
      await backend.start(
        settings.inputs.map((input) => ({ chip: input.chip, line: input.line })),
        {
          level: (line, level) => debouncers.get(lineKey(line))?.level(level),
          problem: (error) => log.error({ code: error.code }, `GPIO inputs: ${error.message}`),
        },
      );
    } catch (error) {
      const code = error instanceof DctrlError ? error.code : 'MACHINE_NOTIFIER_GPIO_FAILED';
      log.error({ code }, `GPIO inputs are not watched: ${(error as Error).message}`);
    }
  };

  // ---- the fob-hash-key ----

  const loadKey = () => {
    try {
      const cached = loadCachedFobKey(keyPath);
      if (!cached) return;
      fobKey = cached.key;
      stats.fobKey = 'cached';
      if (cached.loosened) log.warn({ keyFile: keyPath }, 'the cached fob-hash-key was readable by others; made owner-only');
    } catch (error) {
      log.error({ code: (error as MachineNotifierError).code }, (error as Error).message);
    }
  };

  const fetchKey = async (client: BusClient): Promise<void> => {
    if (!running || client !== bus) return;
    try {
      const reply = (await client.request(SecretGet, { name: FOB_KEY_SECRET })) as { value: string };
      const key = decodeFobKey(reply.value);
      if (!running) return;
      const changed = !fobKey || !fobKey.equals(key);
      fobKey = key;
      stats.fobKey = 'vault';
      if (changed) {
        saveFobKey(keyPath, key);
        log.info({ keyFile: keyPath }, 'fob-hash-key from the Vault, cached for offline use');
      }
    } catch (error) {
      const cause = error instanceof DctrlError ? error.code : undefined;
      log.warn(
        { code: 'MACHINE_NOTIFIER_FOB_KEY_UNAVAILABLE', cause, cached: fobKey !== undefined },
        `the Vault did not hand out the fob-hash-key: ${(error as Error).message}; asking again in ${keyRetryMs} ms`,
      );
      if (running) later(keyRetryMs, () => void fetchKey(client));
    }
  };

  // ---- the bus, in the background ----

  const answerSimulatedTaps = async (client: BusClient) => {
    await client.respond(
      SimulateTap,
      ({ fob }) => {
        if (reader.kind !== 'simulated') {
          throw new MachineNotifierError(
            'MACHINE_NOTIFIER_NOT_SIMULATED',
            `"${device}" reads fobs with its ${reader.kind} reader; only a simulated reader takes simulated taps`,
          );
        }
        const result = tap(fob, 'simulated');
        if (result.rateLimited) {
          throw new MachineNotifierError(
            'MACHINE_NOTIFIER_TAP_RATE_LIMITED',
            `more than ${settings.maxTapsPerSecond} taps in a second on "${device}"; this one was dropped`,
          );
        }
        return { tapId: result.tapId, debounced: result.debounced };
      },
      MachineTopics.simulateTap(device),
    );
  };

  /** Tries to join the bus until it works or the notifier stops; never throws. */
  const join = async (stopping: Promise<void>): Promise<void> => {
    let failures = 0;
    while (running) {
      const client = sealer!;
      try {
        await startWithin(client, options.busStartTimeoutMs ?? DEFAULT_BUS_START_TIMEOUT_MS, stopping);
        if (!running) return;
        bus = client;
        await answerSimulatedTaps(client);
        log.info({ attempts: failures + 1 }, 'on the bus');
        void fetchKey(client);
        return;
      } catch (error) {
        bus = undefined;
        await client.stop().catch(() => undefined);
        if (!running) return;
        failures++;
        const fields = { code: 'MACHINE_NOTIFIER_BUS_UNREACHABLE', cause: error instanceof DctrlError ? error.code : undefined };
        const message = `cannot join the bus (${(error as Error).message}); reading fobs offline, trying again every ${busRetryMs} ms`;
        if (failures === 1) log.warn(fields, message);
        else log.debug(fields, message);
        // A stopped client cannot start again; the next attempt (and the taps until then) use a new one.
        sealer = newClient();
        await Promise.race([stopping, new Promise<void>((resolve) => later(busRetryMs, resolve))]);
      }
    }
  };

  return {
    name: SERVICE_NAME,
    handleReaderText(text, from) {
      assertRunning();
      if (from === 'serial') serialBytes(Buffer.from(text, 'latin1'));
      else handleKeys(keysOfText(text), from);
    },
    handleHashedFob(fob, from) {
      return tap(fob, from);
    },
    stats() {
      return { ...stats, malformedByCode: { ...stats.malformedByCode }, busConnected: bus?.connected ?? false };
    },
    async start() {
      if (running) return;
      running = true;
      gate = newGate();
      loadKey();
      // A client to seal taps with from the first read on; join() brings it onto the bus.
      sealer = newClient();
      const stopping = new Promise<void>((resolve) => (stopNow = resolve));
      // Readers and inputs first: a door boots while the network is down, and must read fobs all the same.
      startReader(reader);
      await startInputs();
      joining = join(stopping);
    },
    async stop() {
      if (!running) return;
      running = false;
      stopNow();
      for (const timer of [...timers, ...expiryTimers.values()]) clearTimeout(timer);
      timers.clear();
      expiryTimers.clear();
      for (const handle of readers.splice(0)) handle.close();
      for (const debouncer of debouncers.values()) debouncer.close();
      debouncers.clear();
      await inputBackend?.stop().catch(() => undefined);
      inputBackend = undefined;
      // An attempt to join still running gives up now, and stops its client.
      await joining;
      await sealer?.stop().catch(() => undefined);
      bus = undefined;
      sealer = undefined;
      joining = undefined;
      assemblers.clear();
      serialFramer = undefined;
      evdevDecoder = undefined;
    },
    describe() {
      const source =
        reader.kind === 'evdev' || reader.kind === 'serial' ? `${reader.kind} reader at ${reader.path}` : `${reader.kind} reader`;
      const inputs = settings.inputs.length > 0 ? `, ${settings.inputs.length} GPIO inputs` : '';
      return [`machine notifier ${device} (${settings.kind}): ${source}${inputs}`];
    },
  };
}

/**
 * bus.start() rejects when the broker refuses, but can wait long on a network that drops packets: bound it, and give
 * up at once when the notifier stops.
 */
async function startWithin(client: BusClient, ms: number, stopping: Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const started = client.start();
  started.catch(() => undefined);
  try {
    await Promise.race([
      started,
      stopping.then(() => {
        throw new MachineNotifierError('MACHINE_NOTIFIER_BUS_UNREACHABLE', 'stopped while joining the bus');
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new MachineNotifierError('MACHINE_NOTIFIER_BUS_UNREACHABLE', `no connection within ${ms} ms`)),
          ms,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
