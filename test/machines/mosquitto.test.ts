// Doors and vending end to end on a real Mosquitto, which runs none of our ACLs: only the signatures and the
// devices' own checks stand between a client on the broker and the door. Stopped and restarted for the offline case.
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { machineSuite } from './e2e-cases.js';

let mosquitto: Mosquitto | undefined;

machineSuite({
  name: 'Mosquitto',
  async start() {
    mosquitto = await startMosquitto();
    return { brokerUrl: mosquitto.url };
  },
  down: () => mosquitto!.stop(),
  up: () => mosquitto!.restart(),
  async stop() {
    await mosquitto?.cleanup();
  },
});
