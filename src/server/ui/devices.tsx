// Device status: each door and vending machine, online or not, and when it was last heard from.
import { ago } from './format.js';
import { useInterval, useNow, useResource } from './hooks.js';
import { useRefreshOn } from './live.js';
import type { Device } from './types.js';
import { ErrorBox, Loading, Section } from './widgets.js';

const REFRESH_MS = 30_000;

/** The Server's detail is free-form: a text as is, an object as "key: value" pairs. */
function describe(detail: unknown): string {
  if (typeof detail === 'string' || typeof detail === 'number' || typeof detail === 'boolean') return String(detail);
  if (typeof detail !== 'object' || detail === null) return '';
  return Object.entries(detail)
    .filter(([, value]) => value !== null && value !== undefined)
    .map(([key, value]) => `${key}: ${typeof value === 'object' ? JSON.stringify(value) : String(value)}`)
    .join(', ');
}

export function Devices() {
  const devices = useResource<{ devices: Device[] }>('/devices');
  // Online is decided by the Server from heartbeats, so a device that went quiet only shows on a fresh read.
  useInterval(devices.reload, REFRESH_MS);
  useRefreshOn(['machine.status'], devices.reload);
  const now = useNow();
  const list = devices.data?.devices ?? [];
  return (
    <Section title="Devices" class="devices">
      {devices.error && <ErrorBox error={devices.error} />}
      {!devices.data && !devices.error && <Loading />}
      {devices.data && list.length === 0 && <p class="muted">No devices known yet.</p>}
      <ul class="device-list">
        {list.map((device) => (
          <li key={device.device} class={device.online ? 'online' : 'offline'}>
            <span class="dot" aria-hidden="true" />
            <strong>{device.device}</strong> <span class="muted small">{device.kind}</span>{' '}
            <span class={`badge ${device.online ? 'ok' : 'bad'}`}>{device.online ? 'online' : 'offline'}</span>
            <br />
            <span class="muted small">
              {device.lastSeenAt ? `seen ${ago(device.lastSeenAt, now)}` : 'never seen'}
              {describe(device.detail) && ` · ${describe(device.detail)}`}
            </span>
          </li>
        ))}
      </ul>
    </Section>
  );
}
