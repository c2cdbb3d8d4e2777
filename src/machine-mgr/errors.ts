// MachineMgr error codes: why a device will not start, refuses a command or an allow-list, or failed to move an output.
import { errorClass } from '../core/errors.js';

export const MachineMgrErrorCodes = {
  MACHINE_MGR_UNKNOWN_DEVICE:
    'MachineMgr was started for a device that machines.devices does not name; add the device to the config or fix machines.local.',
  MACHINE_MGR_WRONG_CLIENT:
    'A device signs as itself: the credentials given to MachineMgr belong to another client; use the device’s own credentials bundle.',
  MACHINE_MGR_NO_PINNED_KEY:
    'A device acts only on commands signed by a BusinessMgr key it pins, and none is set: set machines.businessMgrKey or export the credentials bundle again so it carries the pin.',
  MACHINE_MGR_PINNED_KEY_INVALID:
    'The pinned BusinessMgr key is not a 32-byte base64url Ed25519 public key; copy it again from `dctrl vault` output.',
  MACHINE_MGR_SIGNER_NOT_PINNED:
    'A command or allow-list was not signed by the pinned BusinessMgr key (the directory key changed, or a forgery); nothing moved. Re-pin only if BusinessMgr’s key was rotated on purpose.',
  MACHINE_MGR_WRONG_DEVICE: 'A command or allow-list names another device; nothing moved. Check BusinessMgr’s device ids.',
  MACHINE_MGR_COMMAND_EXPIRED:
    'A command arrived after its expiry (a slow network or a recorded message); nothing moved. Check the device clock and businessMgr.commandTtlSeconds.',
  MACHINE_MGR_COMMAND_REPLAYED: 'A command with this id was already seen (a replay); it is never acted on twice.',
  MACHINE_MGR_UNKNOWN_OUTPUT:
    'A command names an output this device does not have (or a vend names none); nothing moved. Add the output to machines.devices.<id>.outputs or fix the product’s output.',
  MACHINE_MGR_TAP_DECIDED_OFFLINE:
    'A command answered a tap the door had already decided from its allow-list (it came after answerTimeoutMs); it is ignored so the tap acts once.',
  MACHINE_MGR_TAP_ALREADY_ANSWERED: 'A second command answered the same tap; only the first acts.',
  MACHINE_MGR_ALLOW_LIST_EXPIRED:
    'An allow-list arrived past its expiry and was not stored; BusinessMgr re-signs lists regularly.',
  MACHINE_MGR_ALLOW_LIST_FROM_PAST:
    'An allow-list with a version not above the stored one arrived (an old or replayed list); the stored one stays.',
  MACHINE_MGR_ALLOW_LIST_INVALID:
    'The stored allow-list no longer verifies (pinned key changed, file edited) and is not used; the door denies offline until BusinessMgr pushes a new one.',
  MACHINE_MGR_SCRIPT_FAILED:
    'An output’s script exited with a non-zero code, was killed by a signal or could not be started; its stderr tail is in the message.',
  MACHINE_MGR_SCRIPT_TIMEOUT:
    'An output’s script ran longer than its timeoutMs and was killed (SIGTERM, then SIGKILL); fix the script or raise timeoutMs.',
  MACHINE_MGR_GPIO_UNAVAILABLE:
    'The gpioset tool of libgpiod is missing or of an unknown version; install the Debian package gpiod.',
  MACHINE_MGR_GPIO_FAILED:
    'gpioset could not pulse the line (wrong chip or line, line busy, no permission); its stderr is in the message.',
  MACHINE_MGR_DRIVER_FAILED: 'An output driver failed without saying why in a known code; the message has its error.',
  MACHINE_MGR_PULSE_ABORTED: 'A pulse was cut short because MachineMgr stopped; the output was set inactive.',
} as const;

export type MachineMgrErrorCode = keyof typeof MachineMgrErrorCodes;
export const MachineMgrError = errorClass('MachineMgrError', MachineMgrErrorCodes);
export type MachineMgrError = InstanceType<typeof MachineMgrError>;
