// Doors and vending end to end on the embedded broker (SubscriptionMgr), taken down and brought back on its port.
import { createSubscriptionMgr, type SubscriptionMgr } from '../../src/subscription-mgr/index.js';
import { freePort } from '../helpers/mosquitto.js';
import { machineSuite } from './e2e-cases.js';

let port = 0;
let replacement: SubscriptionMgr | undefined;

machineSuite({
  name: 'embedded broker',
  async start() {
    port = await freePort();
    return { brokerPort: port };
  },
  async down(space) {
    await space.h.broker.stop();
  },
  async up(space) {
    replacement = createSubscriptionMgr(await space.h.context('subscription-mgr'));
    await replacement.start();
  },
  async stop() {
    await replacement?.stop();
  },
});
