// MachineNotifier error codes: reads that are no tap, taps held back, and the reader, GPIO and bus troubles of a device.
import { errorClass } from '../core/errors.js';

export const MachineNotifierErrorCodes = {
  MACHINE_NOTIFIER_READ_MALFORMED_SHORT:
    'The reader ended a read (Enter, CR or LF) after fewer than the 10 digits of an EM4100 fob, so it is no tap. Usually a fob pulled away too fast; if it keeps happening, check the reader is set to 10-digit decimal output.',
  MACHINE_NOTIFIER_READ_MALFORMED_LONG:
    'The reader sent more than 10 digits before Enter, so it is no tap. Set the reader to 10-digit decimal output, or check that nothing else types on the same keyboard device.',
  MACHINE_NOTIFIER_READ_MALFORMED_NON_DIGITS:
    'A read held something other than digits (letters, keypad operators, line noise on a serial line), so it is no tap. Set the reader to decimal output; on a serial reader check the baud rate.',
  MACHINE_NOTIFIER_READ_MALFORMED_NO_ENTER:
    'Digits arrived but no Enter followed within the inter-key timeout, so they were dropped and the next read starts clean. Set the reader to end each read with Enter (CR or LF on a serial line).',
  MACHINE_NOTIFIER_READ_MALFORMED_CHECKSUM:
    'A serial reader sent a framed hex read (STX, 10 hex digits, 2 hex checksum, ETX) whose XOR checksum does not match: line noise or a wrong baud rate. Check the cable and reader.baudRate.',
  MACHINE_NOTIFIER_READ_MALFORMED_FRAME:
    'A serial reader sent a frame that starts with STX but is not 10 hex digits and a checksum before ETX (or never ended), so it is no tap. Check reader.baudRate and that the reader speaks EM4100 ASCII.',
  MACHINE_NOTIFIER_TAP_RATE_LIMITED:
    'More taps came in one second than machines.devices.<id>.maxTapsPerSecond allows, so this one was dropped (counted and logged) instead of flooding the hub. A stuck or hostile reader; raise the limit only for a real need.',
  MACHINE_NOTIFIER_NO_FOB_KEY:
    'A fob was read but the device has no fob-hash-key yet (none cached in its data folder and the Vault not reached since), so it cannot be hashed and was dropped; fob numbers never leave the reader in clear. Connect the device to the hub once.',
  MACHINE_NOTIFIER_FOB_KEY_CACHE_INVALID:
    'The cached fob-hash-key in the data folder (device-<id>.fob-key) is unreadable or not a base64url key of at least 16 bytes; it is ignored until the Vault hands out the key again. Delete the file and let the device reach the hub.',
  MACHINE_NOTIFIER_FOB_KEY_UNAVAILABLE:
    'The Vault did not hand out the fob-hash-key (no answer, or refused: the device must be in machines.devices and vault.secretReaders["fob-hash-key"] must include "@devices"); the device keeps using its cached key and asks again.',
  MACHINE_NOTIFIER_NOT_SIMULATED:
    'A simulated tap was asked of a device whose reader is not simulated; only machines.devices.<id>.reader.kind "simulated" takes them. Tap a real fob, or set the reader to simulated.',
  MACHINE_NOTIFIER_NOT_STARTED: 'Reader input was handed to a MachineNotifier that is not running; start() it first.',
  MACHINE_NOTIFIER_CONFIG_INVALID:
    'The device is not in machines.devices, or the credentials are not the device’s own (a device is its own bus client, named by its id). Fix the configuration or the credentials bundle.',
  MACHINE_NOTIFIER_READER_FAILED:
    'The fob reader could not be opened or stopped delivering (unplugged, wrong path, no permission); the notifier keeps trying to reopen it. Check reader.path (for a USB reader its /dev/input/by-id path) and that the service may read it (group input or dialout).',
  MACHINE_NOTIFIER_SERIAL_SETUP_FAILED:
    'stty could not set the serial line (speed, raw, no echo); the notifier tries again. Check reader.path is a tty, reader.baudRate is a speed stty knows, and the service may open the port.',
  MACHINE_NOTIFIER_GPIO_UNAVAILABLE:
    'GPIO inputs are configured but the libgpiod tools are missing or of an unknown version, so no button or sensor is watched (taps still work). Install them (Debian: apt-get install gpiod).',
  MACHINE_NOTIFIER_GPIO_FAILED:
    'gpiomon or gpioget failed or exited (chip missing, line busy or not an input, no permission on /dev/gpiochipN); the message has its error output. The notifier restarts it; fix the chip and line in machines.devices.<id>.inputs.',
  MACHINE_NOTIFIER_BUS_UNREACHABLE:
    'The device could not join the bus (broker unreachable, no key directory yet); it keeps reading fobs, hands taps to its own MachineMgr and tries again every few seconds. Check broker.url and the network.',
  MACHINE_NOTIFIER_TAP_NOT_SEALED:
    'The bus was up but the tap could not be sealed to its readers (the key directory has expired or lists no encryption key for them; the cause code says which), so it was not sent and the device’s MachineMgr decided it from its allow-list. Check that the device receives the Vault’s key directory and that BusinessMgr has a key in it.',
  MACHINE_NOTIFIER_TAP_NOT_SENT:
    'A tap was sealed and the bus was up, but sending it failed; the device’s MachineMgr already has it and decides from its allow-list. Look at the bus error in the message.',
} as const;

export type MachineNotifierErrorCode = keyof typeof MachineNotifierErrorCodes;

export const MachineNotifierError = errorClass('MachineNotifierError', MachineNotifierErrorCodes);
export type MachineNotifierError = InstanceType<typeof MachineNotifierError>;

/** The codes of reads that are no tap. */
export type MalformedReadCode = Extract<MachineNotifierErrorCode, `MACHINE_NOTIFIER_READ_MALFORMED_${string}`>;
