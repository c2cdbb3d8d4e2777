// MachineMgr: runs on a door or vending machine. Acts only on commands signed by the pinned BusinessMgr key, keeps
// the signed offline allow-list, decides taps from it while the hub is unreachable and uploads that log later.
import type { KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { createBusClient, type BusClient } from '../auth-proxy/index.js';
import { AuditLimiter } from '../core/audit-limiter.js';
import type { ActuatorConfig, DeviceConfig } from '../core/config.js';
import { deviceLinkOf, type LocalTap } from '../core/device-link.js';
import { decideFromAllowList, fobKey, type AllowListPayload } from '../core/door-access.js';
import { decodeEnvelope, verifyEnvelopeSignature, type Envelope } from '../core/envelope.js';
import { createIdFactory } from '../core/ids.js';
import { importPublicKey } from '../core/keys.js';
import { deriveSealingKey, openEnvelope } from '../core/seal.js';
import {
  AllowList,
  MachineActuation,
  MachineCommand,
  MachineRefused,
  MachineStatus,
  MachineTopics,
  OfflineLog,
} from '../core/messages-machine.js';
import type { Service, ServiceContext } from '../core/service.js';
import { Actuator, sleep, type ActuationReport, type PulseOrigin } from './actuator.js';
import { addressedHere, checkAllowList, checkCommand, signedByPinnedKey, type CommandPayload, type Verdict } from './checks.js';
import { createOutputDriver, SimulatedDriver, type OutputDriver, type PulseRecord } from './drivers.js';
import { MachineMgrError, type MachineMgrErrorCode } from './errors.js';
import { DeviceStore, SERVICE_NAME, type OfflineEntry } from './store.js';

export { MachineMgrError, MachineMgrErrorCodes, type MachineMgrErrorCode } from './errors.js';
export {
  GpioDriver,
  ScriptDriver,
  SimulatedDriver,
  createOutputDriver,
  gpiosetInactiveArgs,
  gpiosetMajor,
  gpiosetPulseArgs,
  scriptArgs,
  type DriverKind,
  type GpioDriverOptions,
  type GpiosetMajor,
  type OutputDriver,
  type PulseRecord,
  type PulseRequest,
  type ScriptDriverOptions,
  type SimulatedDriverOptions,
} from './drivers.js';
export { DEFAULT_DOOR_PULSE_MS, DEFAULT_VEND_PULSE_MS, type ActuationReport } from './actuator.js';
export { checkAllowList, checkCommand } from './checks.js';
export { SERVICE_NAME, type OfflineEntry } from './store.js';

/** The bus client instance name: MachineNotifier of the same device signs as the same client, so the ids differ. */
const BUS_INSTANCE = 'machine-mgr';
/** How often the connection is looked at to tell online from offline. */
const MODE_POLL_MS = 100;
const CONNECT_RETRY_FIRST_MS = 500;
const CONNECT_RETRY_MAX_MS = 30_000;
const UPLOAD_RETRY_FIRST_MS = 1_000;
const UPLOAD_RETRY_MAX_MS = 60_000;
/** OfflineLog takes at most this many entries per request (the contract's limit). */
export const UPLOAD_BATCH = 100;
const PRUNE_EVERY_MS = 60_000;
/** How long a tap's fate (answered online, decided offline) is remembered in memory against a late command. */
const TAP_MEMORY_MS = 10 * 60_000;

export type MachineMode = 'online' | 'offline';

export type CreateDriver = (output: string, actuator: ActuatorConfig, device: DeviceConfig) => OutputDriver;

export interface MachineMgrOptions {
  /** Builds each output's driver; by default from its config (gpio, script, simulated in real time). */
  createDriver?: CreateDriver;
}

export interface MachineMgr extends Service {
  readonly device: string;
  /** online while the bus is connected or has been gone less than offlineAfterMs; offline after. */
  mode(): MachineMode;
  /** Whether the bus is connected now (subscribed to this device's commands and allow-list). */
  connected(): boolean;
  /** The allow-list in force (verified), or undefined. */
  allowList(): AllowListPayload | undefined;
  /** Every pulse of the simulated outputs (those of SimulatedDriver instances), oldest first. */
  pulses(): PulseRecord[];
  /** The drivers by output name, once started. */
  drivers(): ReadonlyMap<string, OutputDriver>;
  queuedVends(): number;
  /** Every offline decision the device recorded, with when it was acknowledged by BusinessMgr. */
  offlineLog(): Promise<(OfflineEntry & { sentAt: number | null })[]>;
}

type Refusable = 'command' | 'allow-list';

/**
 * Builds the MachineMgr of one device; `context.credentials.client` must be the device. Nothing happens until
 * start(), which needs no broker: it opens the device's SQLite file, loads the allow-list and then connects in the
 * background, retrying until stop().
 * start() @throws MachineMgrError MACHINE_MGR_UNKNOWN_DEVICE, MACHINE_MGR_WRONG_CLIENT, MACHINE_MGR_NO_PINNED_KEY or
 * MACHINE_MGR_PINNED_KEY_INVALID; StorageError when the device's file cannot be opened.
 */
export function createMachineMgr(context: ServiceContext, device: string, options: MachineMgrOptions = {}): MachineMgr {
  const { config, clock } = context;
  const log = context.logger.child({ service: SERVICE_NAME, device });
  const nextLocalId = createIdFactory(clock);
  const commandTopic = MachineTopics.command(device);
  const allowListTopic = MachineTopics.allowList(device);
  const refusals = new AuditLimiter(config.bus.auditPerSecond, clock);

  let running = false;
  let unlink: () => void = () => undefined;
  /**
   * The latest time BusinessMgr vouched for (its list's issue time, its commands'), to distrust a device clock set
   * back. Only signed times: the device's own clock, once wrong, must not lock the door for good.
   */
  let latestSeen = 0;
  let settings: DeviceConfig;
  let pinnedKey: KeyObject;
  const sealingKey = deriveSealingKey(context.credentials.signingKey);
  let store: DeviceStore | undefined;
  let actuator: Actuator | undefined;
  let drivers = new Map<string, OutputDriver>();
  let bus: BusClient | undefined;
  let connecting: BusClient | undefined;
  let stopping = new AbortController();
  let timers: NodeJS.Timeout[] = [];
  let allowList: Envelope<AllowListPayload> | undefined;
  let allowListTail: Promise<void> = Promise.resolve();
  let disconnectedSince: number | undefined;
  let wasConnected = false;
  let lastMode: MachineMode = 'online';
  let offlinePending = 0;
  const pendingTaps = new Map<string, NodeJS.Timeout>();
  /** Taps a command answered, and taps decided offline, by id → when; pruned after TAP_MEMORY_MS. */
  const answeredTaps = new Map<string, number>();
  const offlineTaps = new Map<string, number>();
  let uploadTimer: NodeJS.Timeout | undefined;
  let uploading: Promise<void> | undefined;
  let uploadAgain = false;
  let uploadBackoffMs = UPLOAD_RETRY_FIRST_MS;

  // ---- the pin and the device ----

  const resolveSettings = (): DeviceConfig => {
    const found = config.machines.devices[device];
    if (!found) {
      throw new MachineMgrError(
        'MACHINE_MGR_UNKNOWN_DEVICE',
        `device "${device}" is not in machines.devices (known: ${Object.keys(config.machines.devices).join(', ') || 'none'})`,
      );
    }
    if (context.credentials.client !== device) {
      throw new MachineMgrError(
        'MACHINE_MGR_WRONG_CLIENT',
        `MachineMgr of "${device}" was given the credentials of "${context.credentials.client}"; a device signs as itself`,
      );
    }
    return found;
  };

  const resolvePin = (): KeyObject => {
    const pinned = config.machines.businessMgrKey ?? context.credentials.pinnedKeys?.['business-mgr'];
    if (pinned === undefined) {
      throw new MachineMgrError(
        'MACHINE_MGR_NO_PINNED_KEY',
        `device "${device}" pins no BusinessMgr key: set machines.businessMgrKey or give credentials with pinnedKeys["business-mgr"]`,
      );
    }
    try {
      return importPublicKey(pinned);
    } catch (cause) {
      throw new MachineMgrError('MACHINE_MGR_PINNED_KEY_INVALID', `the pinned BusinessMgr key: ${(cause as Error).message}`, {
        cause,
      });
    }
  };

  // ---- reporting ----

  const publish = (what: string, send: (client: BusClient) => Promise<unknown>): void => {
    const client = bus;
    if (!client?.connected) {
      log.debug({ what }, 'not published: the bus is away');
      return;
    }
    send(client).catch((error: unknown) => log.warn({ what, err: (error as Error).message }, 'could not publish'));
  };

  const refuse = (what: Refusable, id: string, code: string, message: string): void => {
    log.warn({ what, id, code }, `refused: ${message}`);
    if (refusals.take() === undefined) return;
    publish('refused', (client) =>
      client.publish(MachineRefused, { device, what, id: id.slice(0, 64), code, message: message.slice(0, 1000) }),
    );
  };

  const refuseVerdict = (what: Refusable, id: string, verdict: Verdict): void => {
    if (!verdict.ok) refuse(what, id, verdict.code, verdict.message);
  };

  const reportActuation = (report: ActuationReport, origin: PulseOrigin): void => {
    const fields = { output: report.output, action: report.action, outcome: report.outcome, commandId: report.commandId };
    if (report.outcome === 'failed') log.error({ ...fields, error: report.error }, 'actuation failed');
    else log.info({ ...fields, latencyMs: report.latencyMs }, 'actuated');
    if (report.outcome === 'failed' && origin.offlineLocalId !== undefined) {
      store
        ?.markNotActuated(origin.offlineLocalId)
        .catch((error: unknown) => log.error({ err: error }, 'offline log not updated'));
    }
    publish('actuation', (client) => client.publish(MachineActuation, { device, ...report }));
  };

  const statusPayload = () => ({
    device,
    kind: settings.kind,
    mode: mode(),
    allowList: allowList
      ? {
          version: allowList.payload.version,
          expiresAt: allowList.payload.expiresAt,
          entries: allowList.payload.entries.length,
        }
      : null,
    queuedVends: actuator?.queuedVends ?? 0,
    offlineLogPending: offlinePending,
    lastActuationAt: actuator?.lastActuationAt ?? null,
    heartbeatAt: clock.now(),
  });

  const publishStatus = (): void =>
    publish('status', (client) => client.publish(MachineStatus, statusPayload(), { expiresInMs: config.bus.heartbeatMs * 3 }));

  // ---- online / offline ----

  function mode(): MachineMode {
    if (bus?.connected) return 'online';
    const since = disconnectedSince ?? clock.now();
    return clock.now() - since >= settings.offlineAfterMs ? 'offline' : 'online';
  }

  const checkConnection = (): void => {
    const connected = bus?.connected ?? false;
    if (connected) disconnectedSince = undefined;
    else disconnectedSince ??= clock.now();
    const now = mode();
    if (connected && !wasConnected) {
      log.info('bus connected');
      publishStatus();
      scheduleUpload(0);
    } else if (!connected && wasConnected) {
      log.warn('bus connection lost');
    }
    wasConnected = connected;
    if (now !== lastMode) {
      log.info({ mode: now }, now === 'offline' ? 'offline: taps are decided from the allow-list' : 'online');
      lastMode = now;
      publishStatus();
    }
  };

  // ---- commands ----

  /**
   * A deny can only keep the door shut. One truly from BusinessMgr for this door settles its tap even when it is
   * refused for anything else (late, seen, dropped by the bus for a skewed clock): otherwise the door would fall back
   * to its allow-list after BusinessMgr said no. Synchronous, so the tap's timer cannot fire in between.
   */
  const settleDenied = (envelope: Envelope<CommandPayload>): boolean => {
    const { action, tapId } = envelope.payload;
    if (action !== 'deny' || tapId === undefined || !pendingTaps.has(tapId)) return false;
    const context = { device, pinnedKey, now: clock.now() };
    if (!signedByPinnedKey(envelope, context).ok || !addressedHere(envelope, context).ok) return false;
    clearTimeout(pendingTaps.get(tapId));
    pendingTaps.delete(tapId);
    answeredTaps.set(tapId, clock.now());
    log.info({ id: envelope.id, tapId, reason: envelope.payload.reason }, 'tap denied');
    return true;
  };

  const onCommand = async (envelope: Envelope<CommandPayload>): Promise<void> => {
    if (!running || !store || !actuator) return;
    // A deny that settled its tap has done all a deny does; it is remembered, not checked and refused again.
    if (settleDenied(envelope)) {
      await store.markSeen(envelope.id, envelope.expiresAt ?? clock.now()).catch(() => undefined);
      return;
    }
    const verdict = checkCommand(envelope, { device, pinnedKey, now: clock.now() });
    if (!verdict.ok) return refuseVerdict('command', envelope.id, verdict);
    // Stored before anything moves, so a crash after acting can never let the same command act again.
    if (!(await store.markSeen(envelope.id, envelope.expiresAt!))) {
      return refuse('command', envelope.id, 'MACHINE_MGR_COMMAND_REPLAYED', `command ${envelope.id} was already seen`);
    }
    const command = envelope.payload;
    const tapId = command.tapId;
    // A tap still waiting here was certainly not decided offline: only an unknown one needs the stored log.
    const unknownTap = tapId !== undefined && !offlineTaps.has(tapId) && !pendingTaps.has(tapId) && !answeredTaps.has(tapId);
    const decidedBefore = unknownTap ? await store.decidedOffline(tapId) : false;
    if (!running) return;
    // From here on synchronous, so a tap timer cannot decide the same tap in between.
    if (tapId !== undefined && (offlineTaps.has(tapId) || decidedBefore)) {
      return refuse(
        'command',
        envelope.id,
        'MACHINE_MGR_TAP_DECIDED_OFFLINE',
        `tap ${tapId} was already decided from the allow-list; command ${envelope.id} came too late and is ignored`,
      );
    }
    if (tapId !== undefined && answeredTaps.has(tapId)) {
      return refuse('command', envelope.id, 'MACHINE_MGR_TAP_ALREADY_ANSWERED', `tap ${tapId} was already answered by a command`);
    }
    const output = command.action === 'open' ? (command.output ?? settings.doorOutput) : command.output;
    if (command.action !== 'deny' && (output === undefined || !actuator.has(output))) {
      const outputs = Object.keys(settings.outputs).join(', ') || 'none';
      return refuse(
        'command',
        envelope.id,
        'MACHINE_MGR_UNKNOWN_OUTPUT',
        output === undefined
          ? `a vend must name its output (outputs: ${outputs})`
          : `output "${output}" is not one of this device's (${outputs})`,
      );
    }
    if (tapId !== undefined) {
      clearTimeout(pendingTaps.get(tapId));
      pendingTaps.delete(tapId);
      answeredTaps.set(tapId, clock.now());
    }
    latestSeen = Math.max(latestSeen, envelope.issuedAt);
    const origin: PulseOrigin = { commandId: envelope.id, decisionId: command.decisionId, since: envelope.issuedAt };
    log.info({ id: envelope.id, action: command.action, output, count: command.count, reason: command.reason }, 'command');
    if (command.action === 'open') actuator.open(output!, origin);
    else if (command.action === 'vend') actuator.vend(output!, command.count, origin);
  };

  // ---- the allow-list ----

  const loadAllowList = async (): Promise<Envelope<AllowListPayload> | undefined> => {
    const sealed = await store!.loadAllowList();
    if (!sealed) return undefined;
    let stored: Envelope<AllowListPayload> | undefined;
    let unopened: string | undefined;
    try {
      stored = openEnvelope(sealed, AllowList.payload, context.credentials.client, sealingKey);
    } catch (error) {
      unopened = `it does not open with this device's key or is no allow-list: ${(error as Error).message}`;
    }
    const problem = !verifyEnvelopeSignature(sealed, pinnedKey)
      ? 'its signature is not by the pinned BusinessMgr key'
      : unopened !== undefined || !stored
        ? (unopened ?? 'it is sealed to another device')
        : stored.payload.device !== device
          ? `it is for "${stored.payload.device}"`
          : undefined;
    if (problem || !stored) {
      const code: MachineMgrErrorCode = 'MACHINE_MGR_ALLOW_LIST_INVALID';
      log.error({ code, id: sealed.id }, `stored allow-list not used: ${problem}; offline taps are denied until a new one comes`);
      return undefined;
    }
    return stored;
  };

  const onAllowList = (envelope: Envelope<AllowListPayload>): Promise<void> => {
    // One at a time, so two lists arriving together are compared with each other, not both with the old one.
    allowListTail = allowListTail.then(async () => {
      if (!running || !store) return;
      const verdict = checkAllowList(envelope, allowList, { device, pinnedKey, now: clock.now() });
      if ('ignore' in verdict) return;
      if (!verdict.ok) return refuseVerdict('allow-list', envelope.id, verdict);
      await store.saveAllowList(envelope, clock.now());
      allowList = envelope;
      latestSeen = Math.max(latestSeen, envelope.payload.issuedAt);
      const { version, entries, expiresAt } = envelope.payload;
      log.info({ version, entries: entries.length, expiresAt: new Date(expiresAt).toISOString() }, 'allow-list stored');
      publishStatus();
    });
    return allowListTail;
  };

  /** What the bus dropped on our topics (bad signature, stale, replayed) is refused like our own checks refuse. */
  const onBusRejection = (rejection: {
    topic: string;
    code: string;
    message: string;
    envelope?: Partial<Envelope>;
    raw?: Buffer;
  }): void => {
    const what: Refusable | undefined =
      rejection.topic === commandTopic ? 'command' : rejection.topic === allowListTopic ? 'allow-list' : undefined;
    if (!what || !running) return;
    if (what === 'command' && rejection.raw) {
      try {
        const candidate = decodeEnvelope(rejection.raw, config.bus.maxMessageBytes);
        if (candidate.type === MachineCommand.type) {
          const opened = openEnvelope(candidate, MachineCommand.payload, context.credentials.client, sealingKey);
          if (opened) settleDenied(opened);
        }
      } catch {
        // Not even an envelope: nothing to settle.
      }
    }
    const code =
      rejection.code === 'CORE_ENVELOPE_REPLAYED'
        ? 'MACHINE_MGR_COMMAND_REPLAYED'
        : rejection.code === 'CORE_ENVELOPE_STALE'
          ? what === 'command'
            ? 'MACHINE_MGR_COMMAND_EXPIRED'
            : 'MACHINE_MGR_ALLOW_LIST_EXPIRED'
          : rejection.code;
    refuse(what, rejection.envelope?.id ?? '', code, rejection.message);
  };

  // ---- taps and offline decisions ----

  const onTap = (tap: LocalTap): void => {
    if (!running || settings.kind !== 'door' || tap.device !== device) return;
    if (answeredTaps.has(tap.tapId) || offlineTaps.has(tap.tapId) || pendingTaps.has(tap.tapId)) return;
    if (!tap.published || mode() === 'offline') {
      void decideOffline(tap);
      return;
    }
    pendingTaps.set(
      tap.tapId,
      setTimeout(() => {
        pendingTaps.delete(tap.tapId);
        void decideOffline(tap);
      }, settings.answerTimeoutMs),
    );
  };

  const decideOffline = async (tap: LocalTap): Promise<void> => {
    if (!running || !store || !actuator) return;
    offlineTaps.set(tap.tapId, clock.now());
    const list = allowList?.payload;
    const verdict = decideFromAllowList(list, tap.fob.hash, tap.at, latestSeen);
    if (verdict.reason === 'clock-behind')
      log.error(
        { tapAt: tap.at, latestSeen },
        'the device clock reads behind the latest signed time seen; offline taps are denied',
      );
    const door = settings.doorOutput;
    const canOpen = verdict.allowed && actuator.has(door);
    if (verdict.allowed && !canOpen) log.error({ output: door }, `doorOutput "${door}" is not among the outputs; nothing opens`);
    const entry: OfflineEntry = {
      localId: nextLocalId(),
      tapId: tap.tapId,
      at: tap.at,
      fob: { key: fobKey(tap.fob.hash), lastDigits: tap.fob.lastDigits },
      allowed: verdict.allowed,
      reason: verdict.reason,
      allowListVersion: list?.version ?? null,
      actuated: canOpen,
    };
    try {
      await store.recordOffline(entry);
      offlinePending++;
    } catch (error) {
      // The door still follows its allow-list; only the record is missing.
      log.error({ err: error, tapId: tap.tapId }, 'offline decision not recorded');
    }
    log.info(
      { tapId: tap.tapId, fob: tap.fob.lastDigits, allowed: verdict.allowed, reason: verdict.reason },
      'tap decided from the allow-list',
    );
    if (canOpen) actuator.open(door, { commandId: null, decisionId: null, since: tap.at, offlineLocalId: entry.localId });
    if (bus?.connected) scheduleUpload(0);
  };

  // ---- uploading the offline log ----

  function scheduleUpload(delayMs: number): void {
    if (!running) return;
    if (uploading) {
      uploadAgain = true;
      return;
    }
    if (uploadTimer) return;
    uploadTimer = setTimeout(() => {
      uploadTimer = undefined;
      uploading = upload().finally(() => {
        uploading = undefined;
        if (uploadAgain) {
          uploadAgain = false;
          scheduleUpload(0);
        }
      });
    }, delayMs);
  }

  const upload = async (): Promise<void> => {
    try {
      while (running && store && bus?.connected) {
        const entries = await store.unsent(UPLOAD_BATCH);
        if (entries.length === 0) break;
        const reply = (await bus.request(OfflineLog, { device, entries })) as { stored: number; duplicates: number };
        // Marked only now: a lost reply means sending again, and BusinessMgr keeps each local id once.
        await store.markSent(
          entries.map((entry) => entry.localId),
          clock.now(),
        );
        offlinePending = await store.countUnsent();
        log.info({ sent: entries.length, ...reply, pending: offlinePending }, 'offline log uploaded');
        uploadBackoffMs = UPLOAD_RETRY_FIRST_MS;
      }
    } catch (error) {
      if (!running) return;
      log.warn({ err: (error as Error).message, retryInMs: uploadBackoffMs }, 'offline log upload failed; retrying');
      const delay = uploadBackoffMs;
      uploadBackoffMs = Math.min(uploadBackoffMs * 2, UPLOAD_RETRY_MAX_MS);
      uploadTimer = setTimeout(() => {
        uploadTimer = undefined;
        scheduleUpload(0);
      }, delay);
    }
  };

  // ---- the bus, in the background ----

  const connect = async (): Promise<void> => {
    let delay = CONNECT_RETRY_FIRST_MS;
    let attempts = 0;
    while (running) {
      const candidate = createBusClient(context, { instance: BUS_INSTANCE });
      // Handlers before start: a persistent session may deliver queued commands before we subscribe again.
      candidate.on(MachineCommand, (_payload, envelope) => onCommand(envelope));
      candidate.on(AllowList, (_payload, envelope) => onAllowList(envelope));
      candidate.onRejected(onBusRejection);
      connecting = candidate;
      try {
        await candidate.start();
        await candidate.subscribe(commandTopic);
        await candidate.subscribe(allowListTopic);
        connecting = undefined;
        if (!running) {
          await candidate.stop();
          return;
        }
        bus = candidate;
        checkConnection();
        return;
      } catch (error) {
        connecting = undefined;
        await candidate.stop().catch(() => undefined);
        attempts++;
        const fields = { err: (error as Error).message, attempts, retryInMs: delay };
        if (attempts === 1) log.warn(fields, 'bus unreachable; deciding from the allow-list and retrying');
        else log.debug(fields, 'bus still unreachable');
        await sleep(delay, stopping.signal);
        delay = Math.min(delay * 2, CONNECT_RETRY_MAX_MS);
      }
    }
  };

  const pruneMemory = async (): Promise<void> => {
    const horizon = clock.now() - TAP_MEMORY_MS;
    for (const taps of [answeredTaps, offlineTaps]) {
      for (const [tapId, at] of taps) if (at < horizon) taps.delete(tapId);
    }
    try {
      await store?.pruneSeen(clock.now());
    } catch (error) {
      log.warn({ err: error }, 'seen commands not pruned');
    }
  };

  const buildDrivers = (): Map<string, OutputDriver> => {
    const create: CreateDriver =
      options.createDriver ??
      ((output, actuatorConfig) =>
        createOutputDriver(device, actuatorConfig, {
          clock,
          onSimulatedPulse: (record) => log.info({ output, ms: record.ms, action: record.action }, 'simulated pulse'),
        }));
    return new Map(
      Object.entries(settings.outputs).map(([output, actuatorConfig]) => [output, create(output, actuatorConfig, settings)]),
    );
  };

  return {
    name: SERVICE_NAME,
    device,
    mode: () => (settings ? mode() : 'offline'),
    connected: () => bus?.connected ?? false,
    allowList: () => allowList?.payload,
    pulses: () => {
      const simulated = new Set([...drivers.values()].filter((driver) => driver instanceof SimulatedDriver));
      return [...simulated].flatMap((driver) => driver.pulses()).sort((a, b) => a.startedAt - b.startedAt);
    },
    drivers: () => drivers,
    queuedVends: () => actuator?.queuedVends ?? 0,
    offlineLog: () => (store ? store.offlineLog() : Promise.resolve([])),

    async start() {
      settings = resolveSettings();
      pinnedKey = resolvePin();
      store = await DeviceStore.open(join(config.dataDir, `device-${device}.db`), device);
      await store.pruneSeen(clock.now());
      allowList = await loadAllowList();
      latestSeen = allowList?.payload.issuedAt ?? 0;
      offlinePending = await store.countUnsent();
      drivers = buildDrivers();
      actuator = new Actuator(settings, drivers, clock, reportActuation, log);
      stopping = new AbortController();
      running = true;
      disconnectedSince = clock.now();
      wasConnected = false;
      lastMode = 'online';
      unlink = deviceLinkOf(context.shared).onTap(device, (tap) => onTap(tap));
      timers = [
        setInterval(checkConnection, MODE_POLL_MS),
        setInterval(() => {
          publishStatus();
          if (offlinePending > 0) scheduleUpload(0);
        }, config.bus.heartbeatMs),
        setInterval(() => void pruneMemory(), PRUNE_EVERY_MS),
      ];
      for (const timer of timers) timer.unref();
      log.info(
        { kind: settings.kind, outputs: Object.keys(settings.outputs), allowList: allowList?.payload.version ?? null },
        'MachineMgr started; connecting to the bus in the background',
      );
      void connect();
    },

    async stop() {
      if (!running) return;
      running = false;
      unlink();
      stopping.abort();
      for (const timer of timers) clearInterval(timer);
      clearTimeout(uploadTimer);
      uploadTimer = undefined;
      for (const timer of pendingTaps.values()) clearTimeout(timer);
      pendingTaps.clear();
      await actuator?.stop();
      await uploading?.catch(() => undefined);
      await allowListTail.catch(() => undefined);
      // A start still waiting for the broker is abandoned; its loop sees running = false.
      await connecting?.stop().catch(() => undefined);
      await bus?.stop().catch(() => undefined);
      bus = undefined;
      await store?.close();
      store = undefined;
    },

    describe() {
      if (!settings) return [];
      const outputs = Object.entries(settings.outputs).map(([name, output]) => `${name} (${output.driver})`);
      return [`${device}: ${settings.kind}, outputs ${outputs.join(', ') || 'none'}`];
    },
  };
}
