// An anonymous eavesdropper on a broker that runs none of our ACLs: it subscribes to every topic (`#`, and the
// `$dctrl/…` tree that `#` does not match) and keeps every byte the broker sends it, raw from the socket and per
// message with its topic, so a test can search what anyone on that broker could read.
import { connect as connectSocket } from 'node:net';
import { MqttClient } from 'mqtt';

export interface RecordedMessage {
  topic: string;
  payload: Buffer;
  retained: boolean;
}

export interface Recorder {
  messages(): readonly RecordedMessage[];
  /** Everything the socket received, in order: MQTT framing and all. */
  rawBytes(): Buffer;
  /** Resolves when a recorded message matches, polling every 20 ms; rejects with `what` after the timeout. */
  waitFor(match: (message: RecordedMessage) => boolean, what: string, timeoutMs?: number): Promise<RecordedMessage>;
  stop(): Promise<void>;
}

/** Topic filters an outsider subscribes to; `#` never matches a topic that starts with `$` [MQTT-4.7.2-1]. */
export const EAVESDROP_FILTERS = ['#', '$dctrl/#', '$dctrl/session/renew'];

export async function startRecorder(port: number): Promise<Recorder> {
  const chunks: Buffer[] = [];
  const messages: RecordedMessage[] = [];
  const client = new MqttClient(
    () => {
      const socket = connectSocket(port, '127.0.0.1');
      socket.on('data', (chunk: Buffer) => chunks.push(Buffer.from(chunk)));
      return socket;
    },
    { clientId: `eavesdropper-${process.pid}-${Date.now()}`, protocolVersion: 4, reconnectPeriod: 0, clean: true },
  );
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  client.on('message', (topic, payload, packet) => {
    messages.push({ topic, payload: Buffer.from(payload), retained: packet.retain });
  });
  const granted = await client.subscribeAsync(EAVESDROP_FILTERS, { qos: 1 });
  if (granted.some((grant) => grant.qos === 128))
    throw new Error(`the broker refused a subscription: ${JSON.stringify(granted)}`);
  return {
    messages: () => messages,
    rawBytes: () => Buffer.concat(chunks),
    async waitFor(match, what, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = messages.find(match);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`the eavesdropper did not see ${what} within ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    async stop() {
      await client.endAsync(true);
    },
  };
}
