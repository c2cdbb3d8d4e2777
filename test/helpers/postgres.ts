// A real PostgreSQL for tests: its own cluster in a temp folder, on a free 127.0.0.1 port, stopped after.
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './mosquitto.js';

export interface Postgres {
  /** A URL for a fresh, empty database on this server. */
  createDatabase(): Promise<string>;
  stop(): Promise<void>;
}

function binDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  const found = versions.map((version) => join(root, version, 'bin')).find((dir) => existsSync(join(dir, 'initdb')));
  if (!found) throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql (apt-get install postgresql)');
  return found;
}

/** The server refuses to run as root; as root, run it as the postgres system user. */
function asServerUser(command: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
}

export async function startPostgres(): Promise<Postgres> {
  const bin = binDir();
  const dir = mkdtempSync(join(tmpdir(), 'dctrl-pg-'));
  if (process.getuid?.() === 0)
    chownSync(
      dir,
      Number(spawnSync('id', ['-u', 'postgres']).stdout.toString().trim()),
      Number(spawnSync('id', ['-g', 'postgres']).stdout.toString().trim()),
    );
  const data = join(dir, 'data');
  const [initCommand, initArgs] = asServerUser(join(bin, 'initdb'), [
    '-D',
    data,
    '--auth=trust',
    '-U',
    'dctrl',
    '-E',
    'UTF8',
    '--no-sync',
  ]);
  const init = spawnSync(initCommand, initArgs, { encoding: 'utf8' });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
  const port = await freePort();
  // pg_ctl starts the server in the background and waits until it accepts connections; it stops it the same way.
  const pgCtl = (args: string[]) => {
    const [command, commandArgs] = asServerUser(join(bin, 'pg_ctl'), ['-D', data, ...args]);
    return spawnSync(command, commandArgs, { encoding: 'utf8', timeout: 60_000 });
  };
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off`;
  const started = pgCtl(['-l', join(dir, 'server.log'), '-o', options, '-w', '-t', '30', 'start']);
  if (started.status !== 0) throw new Error(`postgres did not start: ${started.stdout}${started.stderr}`);
  const admin = `postgres://dctrl@127.0.0.1:${port}/postgres`;
  let databases = 0;
  return {
    async createDatabase() {
      const name = `test_${process.pid}_${++databases}`;
      const client = new pg.Client({ connectionString: admin });
      await client.connect();
      await client.query(`CREATE DATABASE ${name}`);
      await client.end();
      return `postgres://dctrl@127.0.0.1:${port}/${name}`;
    },
    async stop() {
      pgCtl(['-m', 'fast', '-w', 'stop']);
      rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    },
  };
}
