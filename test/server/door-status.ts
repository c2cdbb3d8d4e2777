// A door's heartbeat as the Server's tests publish it: online, nothing queued, no allow-list, unless told otherwise.
import type { PayloadOf } from '../../src/core/contract.js';
import type { MachineStatus } from '../../src/core/messages-machine.js';

export function doorStatus(
  heartbeatAt: number,
  changes: Partial<PayloadOf<typeof MachineStatus>> = {},
): PayloadOf<typeof MachineStatus> {
  return {
    device: 'front-door',
    kind: 'door',
    mode: 'online',
    allowList: null,
    queuedVends: 0,
    offlineLogPending: 0,
    lastActuationAt: null,
    heartbeatAt,
    ...changes,
  };
}
