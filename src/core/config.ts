// One validated, frozen configuration: defaults < config file < DCTRL_* env vars < command-line flags.
import { readFileSync, existsSync } from 'node:fs';
import { z } from 'zod';
import { CoreError } from './errors.js';
import { currencyCode } from './messages-price.js';

/** Services this build knows, in start order: the broker first, then the Vault, then the rest. */
export const SERVICE_NAMES = [
  'subscription-mgr',
  'vault',
  'event-logger',
  'business-data',
  'member-data',
  'reporter',
  'price-notifier',
  'chain-notifier',
  'business-mgr',
  'member-mail',
  'payout-mgr',
  'server',
  'machine-notifier',
  'machine-mgr',
] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

/** A port to listen on; 0 lets the OS pick a free one (the real one is printed at start). */
const listenPort = z.int().min(0).max(65535);
const positiveMs = z.int().positive();

const priceSourceName = z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'expected lowercase letters, digits and "-"');
const priceSourceBaseUrl = z.string().regex(/^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/, 'expected an http(s):// URL without query');
const priceSourceTimeoutMs = z.int().min(100).max(60_000).default(5_000);
const livePriceSource = <K extends string>(kind: K, baseUrl: string) =>
  z.strictObject({
    kind: z.literal(kind),
    name: priceSourceName,
    baseUrl: priceSourceBaseUrl.default(baseUrl),
    timeoutMs: priceSourceTimeoutMs,
  });
/** One exchange-rate source of the PriceNotifier: a public ticker in its own format, or a fixed demo rate. */
const priceSourceSchema = z.discriminatedUnion('kind', [
  livePriceSource('kraken', 'https://api.kraken.com'),
  livePriceSource('coinbase', 'https://api.coinbase.com'),
  livePriceSource('bitstamp', 'https://www.bitstamp.net'),
  livePriceSource('coingecko', 'https://api.coingecko.com'),
  z.strictObject({ kind: z.literal('fixed'), name: priceSourceName, centsPerBtc: z.int().positive().max(1e15) }),
]);
export type PriceSourceConfig = z.infer<typeof priceSourceSchema>;

const clientName = z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'a client name is lowercase letters, digits and "-"');
const publishQuotaText = {
  messagesPerSecond: 'Messages per second a client may publish, sustained.',
  messageBurst: 'Messages a client may publish at once before the sustained rate applies.',
  bytesPerSecond: 'Payload bytes per second a client may publish, sustained.',
  byteBurst: 'Payload bytes a client may publish at once before the sustained rate applies.',
};
const publishQuotaField = z.int().positive();
const brokerLimitsSchema = z
  .strictObject({
    preLoginBytes: z
      .int()
      .min(1024)
      .max(1_048_576)
      .default(16_384)
      .describe(
        'Bytes a connection may send before its CONNECT is accepted (a CONNECT with its token is a few KB); a packet that declares more is cut as its header arrives, before its body is buffered.',
      ),
    packetOverheadBytes: z
      .int()
      .min(64)
      .max(65_536)
      .default(4_096)
      .describe(
        "Room for the topic and headers above bus.maxMessageBytes: a logged-in client's packet may declare at most bus.maxMessageBytes plus this, or it is cut as its header arrives.",
      ),
    connectTimeoutMs: positiveMs.default(10_000).describe('A connection that has not sent its CONNECT by then is closed.'),
    connectionsPerAddress: z
      .int()
      .positive()
      .default(100)
      .describe(
        "Open connections from one source address at most (the embedded hub's own services all come from loopback; count them in).",
      ),
    unauthenticatedConnections: z
      .int()
      .positive()
      .default(64)
      .describe('Connections that have not yet logged in, over all addresses, at most; each may hold preLoginBytes.'),
    publish: z
      .strictObject({
        messagesPerSecond: publishQuotaField.default(200).describe(publishQuotaText.messagesPerSecond),
        messageBurst: publishQuotaField.default(5_000).describe(publishQuotaText.messageBurst),
        bytesPerSecond: publishQuotaField.default(1_048_576).describe(publishQuotaText.bytesPerSecond),
        byteBurst: publishQuotaField.default(33_554_432).describe(publishQuotaText.byteBurst),
      })
      .prefault({})
      .describe(
        'Publish quota of each client (token subject, shared by its connections): a client past it is audited (audit.denied) and disconnected.',
      ),
    publishOverrides: z
      .record(
        clientName,
        z.strictObject({
          messagesPerSecond: publishQuotaField.optional(),
          messageBurst: publishQuotaField.optional(),
          bytesPerSecond: publishQuotaField.optional(),
          byteBurst: publishQuotaField.optional(),
        }),
      )
      .default({
        'event-logger': { messagesPerSecond: 20_000, messageBurst: 100_000, bytesPerSecond: 67_108_864, byteBurst: 268_435_456 },
        server: { messagesPerSecond: 2_000, messageBurst: 20_000 },
      })
      .describe(
        'Per-client publish quotas in place of broker.limits.publish (fields left out keep its value). Setting it replaces the defaults: keep the EventLogger (it replays up to 100,000 records on request) and the Server (it asks on behalf of every dashboard user).',
      ),
  })
  .prefault({});
const deviceOutputName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'an output name is lowercase letters, digits, "-" and "_"');
/** A Linux GPIO character device, by name (gpiochip0) or path (/dev/gpiochip0). */
const gpioChip = z.string().regex(/^(\/dev\/)?gpiochip\d+$/, 'expected gpiochipN or /dev/gpiochipN');
const pulseMs = z
  .int()
  .min(1)
  .max(120_000)
  .optional()
  .describe('How long the output is held; a door 12 s, a vend 0.5 s when unset.');

/** How one output of a device is moved: a GPIO line pulsed through libgpiod, a script, or a simulated line. */
const actuatorSchema = z.discriminatedUnion('driver', [
  z.strictObject({ driver: z.literal('simulated'), pulseMs }),
  z.strictObject({
    driver: z.literal('gpio'),
    chip: gpioChip,
    line: z.int().min(0).max(1023),
    activeLow: z.boolean().default(false),
    pulseMs,
  }),
  z.strictObject({
    driver: z.literal('script'),
    command: z.string().min(1).max(1024),
    /** `{device}`, `{output}`, `{action}` and `{ms}` are replaced in each argument. */
    args: z.array(z.string().max(1024)).max(32).default([]),
    timeoutMs: z.int().min(100).max(300_000).default(20_000),
    pulseMs,
  }),
]);
export type ActuatorConfig = z.infer<typeof actuatorSchema>;

const readerSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('simulated') }),
  z.strictObject({ kind: z.literal('stdin') }),
  z.strictObject({ kind: z.literal('evdev'), path: z.string().min(1).max(1024) }),
  z.strictObject({
    kind: z.literal('serial'),
    path: z.string().min(1).max(1024),
    baudRate: z.int().positive().default(9600),
  }),
  z.strictObject({ kind: z.literal('none') }),
]);
export type ReaderConfig = z.infer<typeof readerSchema>;

const inputSchema = z.strictObject({
  name: deviceOutputName,
  kind: z.enum(['button', 'sensor']),
  chip: gpioChip,
  line: z.int().min(0).max(1023),
  activeLow: z.boolean().default(false),
  debounceMs: z.int().min(0).max(10_000).default(50),
});

const deviceSchema = z
  .strictObject({
    kind: z.enum(['door', 'vending']),
    reader: readerSchema
      .prefault({ kind: 'simulated' })
      .describe(
        'The fob reader: simulated (`dctrl sim tap`), stdin, evdev (a USB reader that types, at its /dev/input/by-id path), serial, or none.',
      ),
    tapDebounceMs: z.int().min(0).max(60_000).default(2_300),
    maxTapsPerSecond: z.int().min(1).max(1_000).default(10),
    inputs: z.array(inputSchema).max(32).default([]),
    outputs: z.record(deviceOutputName, actuatorSchema).default({}),
    /** Doors: the output that holds the strike; offline decisions; which groups besides keyholders may enter. */
    doorOutput: deviceOutputName.default('door'),
    groups: z.array(z.string().min(1).max(80)).max(64).optional(),
    answerTimeoutMs: z.int().min(100).max(30_000).default(1_500),
    offlineAfterMs: z.int().min(0).max(600_000).default(5_000),
    /** Vending machines: the least time between two vends. */
    vendSpacingMs: z.int().min(0).max(600_000).default(12_000),
  })
  .transform((device) =>
    device.kind === 'door' && Object.keys(device.outputs).length === 0
      ? { ...device, outputs: { [device.doorOutput]: { driver: 'simulated' as const } } }
      : device,
  );
export type DeviceConfig = z.infer<typeof deviceSchema>;

/** The demo space: a front door and a vending machine, both simulated. */
const DEMO_DEVICES: Record<string, z.input<typeof deviceSchema>> = {
  'front-door': { kind: 'door' },
  vending: {
    kind: 'vending',
    outputs: { 'club-mate': { driver: 'simulated' }, cola: { driver: 'simulated' } },
  },
};

export const configSchema = z
  .strictObject({
    dataDir: z
      .string()
      .min(1)
      .default('./data')
      .describe('Where keys, the vault, logs and databases live; relative to the working directory.'),
    services: z
      .array(z.enum(SERVICE_NAMES))
      .min(1)
      .default([...SERVICE_NAMES])
      .describe('Which services this process runs; all of them (embedded mode) by default.'),
    credentialsFile: z
      .string()
      .min(1)
      .optional()
      .describe('Credentials bundle from `dctrl vault export`, for services that run away from the Vault.'),
    db: z
      .strictObject({
        url: z
          .string()
          .regex(/^postgres(ql)?:\/\/\S+$/, 'expected a postgres:// or postgresql:// URL')
          .optional()
          .describe('PostgreSQL for the data services; unset, they share SQLite in dataDir/dctrl.db.'),
      })
      .prefault({}),
    memberData: z
      .strictObject({
        editors: z
          .array(z.string().regex(/^[a-z][a-z0-9-]{0,62}$/))
          .default(['cli', 'server'])
          .describe('Clients whose signed requests may record member facts.'),
      })
      .prefault({}),
    businessData: z
      .strictObject({
        editors: z
          .array(z.string().regex(/^[a-z][a-z0-9-]{0,62}$/))
          .default(['cli', 'server'])
          .describe('Clients whose signed requests may change prices, tiers and policies.'),
      })
      .prefault({}),
    chain: z
      .strictObject({
        network: z
          .enum(['mainnet', 'testnet', 'signet', 'regtest'])
          .default('regtest')
          .describe('The bitcoin network; every xpub, address and provider is checked against it.'),
        provider: z
          .enum(['simulated', 'bitcoin-core', 'esplora', 'electrum'])
          .default('simulated')
          .describe(
            'Where blocks and transactions come from: the built-in simulated chain (demo), a Bitcoin Core node, an Esplora REST API, or an Electrum server (which answers by script, not by block).',
          ),
        bitcoinCore: z
          .strictObject({
            url: z.url().default('http://127.0.0.1:18443').describe('Bitcoin Core JSON-RPC URL.'),
            user: z.string().optional().describe('RPC user (or use cookieFile).'),
            password: z.string().optional().describe('RPC password; better set by DCTRL_CHAIN__BITCOIN_CORE__PASSWORD.'),
            cookieFile: z.string().optional().describe("Bitcoin Core's .cookie file, read at each connect."),
            timeoutMs: positiveMs.default(10_000).describe('An RPC call that takes longer fails and is retried later.'),
          })
          .prefault({}),
        esplora: z
          .strictObject({
            url: z
              .url()
              .default('http://127.0.0.1:3002')
              .describe(
                'Esplora API base URL: a local electrs (its regtest port by default), or a public one such as https://blockstream.info/api or https://mempool.space/signet/api, which sees every transaction looked up or sent.',
              ),
            timeoutMs: positiveMs
              .default(30_000)
              .describe('A request that takes longer fails and is retried later; a whole block (up to 4 MB) is one request.'),
          })
          .prefault({}),
        electrum: z
          .strictObject({
            host: z
              .string()
              .min(1)
              .default('127.0.0.1')
              .describe(
                'Electrum server (ElectrumX, electrs, Fulcrum) host: your own, or a public one, which sees every script and transaction asked about.',
              ),
            port: z
              .int()
              .min(1)
              .max(65535)
              .default(60401)
              .describe(
                'Its port: electrs on regtest by default; servers usually listen on 50001 (TCP) and 50002 (TLS) on mainnet.',
              ),
            tls: z.boolean().default(false).describe('Connect over TLS; the server certificate must be one the system trusts.'),
            timeoutMs: positiveMs
              .default(30_000)
              .describe(
                'A call that takes longer fails and the connection is opened anew by the next call; a large transaction is one answer.',
              ),
          })
          .prefault({}),
      })
      .prefault({}),
    chainNotifier: z
      .strictObject({
        depositDescriptor: z
          .string()
          .min(1)
          .max(10_000)
          .optional()
          .describe(
            'Where member deposit addresses come from: an output descriptor (wpkh, sh(wpkh), tr) or a zpub/ypub/vpub/upub of the space’s watch-only account. Unset with the simulated chain, a demo key is made in dataDir.',
          ),
        gapLimit: z.int().min(1).max(1_000).default(20).describe('Unassigned addresses watched beyond the last one handed out.'),
        reorgLimit: z
          .int()
          .min(1)
          .max(100)
          .default(6)
          .describe(
            'The deepest reorg undone on its own; a deeper one stops the notifier with an alarm until an operator looks.',
          ),
        pollMs: positiveMs.default(5_000).describe('How often the node is asked for new blocks and mempool transactions.'),
        startHeight: z
          .int()
          .nonnegative()
          .optional()
          .describe('The first block to scan on a fresh start (the wallet’s birthday); the tip when unset.'),
        addressReaders: z
          .array(z.string().regex(/^[a-z][a-z0-9-]{0,62}$/))
          .default(['cli', 'server', 'member-mail', 'business-mgr'])
          .describe('Clients that may ask for a member’s deposit address and payments.'),
        invoices: z
          .strictObject({
            expiryMinutes: z
              .int()
              .min(1)
              .max(1_440)
              .default(15)
              .describe('How long an invoice’s locked rate holds; unpaid by then, the invoice expires.'),
            lateWatchHours: z
              .int()
              .min(0)
              .max(720)
              .default(24)
              .describe(
                'How long after expiry a payment still settles an invoice (at its locked rate, flagged late); money that arrives later settles nothing and raises an alarm.',
              ),
            creators: z
              .array(z.string().regex(/^[a-z][a-z0-9-]{0,62}$/))
              .default(['cli', 'server', 'business-mgr'])
              .describe(
                'Clients that may create invoices (the command line, the dashboard, the vending machine manager); they and chainNotifier.addressReaders may read them.',
              ),
            paidTolerancePerMille: z
              .int()
              .min(0)
              .max(5)
              .default(0)
              .describe(
                'A payment short of the invoice by at most this many thousandths still settles it (flagged partial), for wallets that take the fee out of the amount; 0 asks for every sat.',
              ),
          })
          .prefault({}),
      })
      .prefault({}),
    machines: z
      .strictObject({
        devices: z
          .record(clientName, deviceSchema)
          .prefault(DEMO_DEVICES)
          .describe(
            'Every door and vending machine by its id (also its bus client name): kind, reader, inputs, outputs and timings. The default is the simulated demo pair.',
          ),
        local: z
          .array(clientName)
          .optional()
          .describe(
            'Which devices this process runs MachineNotifier and MachineMgr for; when unset, every configured device on the hub, and on a device those its credentials bundle carries.',
          ),
        businessMgrKey: z
          .string()
          .length(43)
          .optional()
          .describe(
            'The BusinessMgr public key (base64url) a device trusts for commands and allow-lists; taken from the credentials bundle or the local Vault when unset.',
          ),
      })
      .prefault({}),
    businessMgr: z
      .strictObject({
        commandTtlSeconds: z
          .int()
          .min(1)
          .max(60)
          .default(10)
          .describe('How long a door or vend command stays valid; a device acts on none older.'),
        tapMaxAgeMs: z
          .int()
          .min(500)
          .max(60_000)
          .default(10_000)
          .describe('A tap that reaches BusinessMgr later than this is denied (stale), so a queued tap never opens a door late.'),
        allowListTtlHours: z
          .int()
          .min(1)
          .max(168)
          .default(72)
          .describe('How long a door may decide from its offline allow-list; an expired one denies every tap.'),
        allowListRefreshMinutes: z
          .int()
          .min(1)
          .max(1_440)
          .default(60)
          .describe('How often the allow-lists are re-signed and pushed even when nothing changed.'),
        invoiceVendWindowMinutes: z
          .int()
          .min(1)
          .max(1_440)
          .default(30)
          .describe(
            'A paid vending invoice vends only if it settled this recently; older ones (BusinessMgr was down) are recorded for a refund instead of dropping a can to nobody.',
          ),
        refreshMinutes: z
          .int()
          .min(1)
          .max(1_440)
          .default(10)
          .describe('How often the member, fob and balance cache is rebuilt from MemberData and the Reporter.'),
      })
      .prefault({}),
    server: z
      .strictObject({
        host: z
          .string()
          .min(1)
          .default('127.0.0.1')
          .describe('Where the dashboard and REST API listen; 0.0.0.0 to serve the space’s network (put TLS in front).'),
        port: listenPort.default(8080).describe('The dashboard and REST API port; 0 picks a free one (printed at start).'),
        sessionIdleMinutes: z
          .int()
          .min(1)
          .max(24 * 60)
          .default(60)
          .describe('A login session unused this long ends.'),
        sessionMaxHours: z
          .int()
          .min(1)
          .max(24 * 30)
          .default(12)
          .describe('A login session ends this long after the login, used or not.'),
        loginMaxFailures: z
          .int()
          .min(1)
          .max(100)
          .default(5)
          .describe(
            'Failed logins for one name from one address within loginWindowMinutes; past them each try from there waits (429): 1 s, then twice as long each time, up to the window. The same name from another address is not slowed.',
          ),
        loginMaxFailuresPerAddress: z
          .int()
          .min(1)
          .max(1_000)
          .default(20)
          .describe('Failed logins from one address for any names within loginWindowMinutes before its tries wait the same way.'),
        loginWindowMinutes: z
          .int()
          .min(1)
          .max(1_440)
          .default(15)
          .describe('How long a failed login is counted, and the longest wait it causes.'),
        apiClients: z
          .record(z.string().regex(/^[a-z][a-z0-9-]{0,62}$/), z.enum(['admin', 'treasurer', 'member']))
          .default({})
          .describe(
            'Machines that call the REST API with a Vault API token (`Authorization: Bearer`, from `dctrl token issue <client> --api`; a bus token is refused), and the role each gets.',
          ),
        maxBodyBytes: z
          .int()
          .min(1_024)
          .max(10 * 1024 * 1024)
          .default(65_536)
          .describe('A request body larger than this is refused (413).'),
        publicDir: z
          .string()
          .min(1)
          .optional()
          .describe('The dashboard files (built by `npm run build`); dist/public beside the program when unset.'),
        liveBufferSize: z
          .int()
          .min(10)
          .max(10_000)
          .default(200)
          .describe('How many recent bus events the live stream keeps for a new or reconnecting viewer.'),
        spaceApi: z
          .strictObject({
            space: z.string().min(1).max(100).default('dctrl hackerspace').describe('The space’s name in /spaceapi.json.'),
            url: z.string().url().default('http://127.0.0.1:8080/').describe('The space’s website.'),
            logo: z.string().url().default('http://127.0.0.1:8080/logo.svg').describe('The space’s logo.'),
            location: z
              .strictObject({
                lat: z.number().min(-90).max(90),
                lon: z.number().min(-180).max(180),
                address: z.string().max(300).optional(),
              })
              .nullable()
              .default(null)
              .describe('Where the space is (left out when null).'),
            contact: z
              .partialRecord(
                z.enum(['email', 'irc', 'matrix', 'ml', 'mastodon', 'xmpp', 'phone', 'issue_mail']),
                z.string().max(300),
              )
              .default({})
              .describe('Public contact fields (email, irc, matrix, ml, mastodon, xmpp, phone, issue_mail).'),
            door: z
              .strictObject({
                device: clientName.nullable().default(null),
                input: z.string().max(64).nullable().default(null),
                openValue: z.union([z.literal(0), z.literal(1)]).default(0),
              })
              .prefault({})
              .describe(
                'The door that tells open or closed: its contact input (openValue is the reading that means open), or, with input null, open for openForMinutesAfterEntry after it opened; device null means any door.',
              ),
            switch: z
              .strictObject({
                device: clientName.nullable().default(null),
                input: z.string().min(1).max(64),
                openValue: z.union([z.literal(0), z.literal(1)]).default(1),
              })
              .nullable()
              .default(null)
              .describe('A "space open" switch (a key switch on a device input); once it has reported it decides over the door.'),
            openForMinutesAfterEntry: z
              .int()
              .min(1)
              .max(1_440)
              .default(60)
              .describe('How long the space counts as open after the door opened, when no contact or switch says.'),
          })
          .prefault({}),
        liveKeepaliveSeconds: z
          .int()
          .min(1)
          .max(300)
          .default(15)
          .describe(
            'How often an open live stream sends a keepalive and checks that its login is still valid (a logout ends it by then).',
          ),
        trustProxy: z
          .union(
            [
              z.literal(false),
              z.int().min(1).max(10),
              z
                .array(z.string().regex(/^(loopback|linklocal|uniquelocal|[0-9A-Fa-f:.]{2,45}(\/\d{1,3})?)$/))
                .min(1)
                .max(32),
            ],
            {
              error:
                'server.trustProxy takes false, the number of proxies in front (1 for one TLS proxy), or the proxies’ addresses (CIDR, or "loopback"); true, believing any X-Forwarded-For, is not accepted',
            },
          )
          .default(false)
          .describe(
            'Which X-Forwarded-For entries to believe: false none (the client is the socket’s address); a number N the last N hops (only when the dashboard is reachable through those proxies alone); a list of the proxies’ addresses ("loopback", "10.0.0.2", "10.0.0.0/24") the entries those proxies added.',
          ),
        metricsBearerSha256: z
          .string()
          .regex(/^[0-9a-f]{64}$/)
          .nullable()
          .default(null)
          .describe(
            'When set, /metrics answers only `Authorization: Bearer <secret>` whose SHA-256 (lowercase hex) this is, or an admin’s login or Vault token; null: open to whoever reaches server.host (loopback by default).',
          ),
        secureCookies: z
          .boolean()
          .default(false)
          .describe('Mark the session cookie Secure: set it when the dashboard is reached over HTTPS (a TLS proxy in front).'),
      })
      .prefault({}),
    memberMail: z
      .strictObject({
        from: z
          .string()
          .min(3)
          .max(320)
          .default('dctrl <no-reply@dctrl.invalid>')
          .describe('The From of every mail: an address, or "Name <address>".'),
        replyTo: z.string().max(320).optional().describe('Where members’ replies go (the treasurer), when not to From.'),
        smtp: z
          .strictObject({
            host: z
              .string()
              .min(1)
              .max(253)
              .optional()
              .describe(
                'The SMTP server. Unset, mails are written as .eml files to memberMail.dropDir instead (demo, development).',
              ),
            port: listenPort.default(587).describe('587 (STARTTLS) or 465 (secure: true); 25 for a local relay.'),
            secure: z.boolean().default(false).describe('TLS from the first byte (port 465); otherwise STARTTLS when offered.'),
            requireTls: z
              .boolean()
              .default(true)
              .describe(
                'Refuse to send unless the connection is upgraded with STARTTLS; turn off only for a relay on this machine.',
              ),
            rejectUnauthorized: z.boolean().default(true).describe('Check the server’s TLS certificate.'),
            user: z.string().max(320).optional().describe('SMTP login user; unset, no authentication.'),
            password: z
              .string()
              .max(1_000)
              .optional()
              .describe('SMTP password; better set by DCTRL_MEMBER_MAIL__SMTP__PASSWORD.'),
            timeoutMs: z
              .int()
              .min(1_000)
              .max(600_000)
              .default(30_000)
              .describe(
                'How long to wait to connect, for the greeting and for each answer before the attempt counts as a temporary failure.',
              ),
            maxPerMinute: z
              .int()
              .min(1)
              .max(10_000)
              .default(30)
              .describe('At most this many mails are handed to the server in any minute (providers block senders who burst).'),
          })
          .prefault({}),
        dropDir: z
          .string()
          .min(1)
          .optional()
          .describe('Where mails are written as .eml files when smtp.host is unset; dataDir/mail when unset.'),
        templatesDir: z
          .string()
          .min(1)
          .optional()
          .describe(
            'A folder of the space’s own templates (<kind>/subject.hbs, text.hbs, html.hbs); each file found there replaces the built-in one. Checked at start.',
          ),
        timezone: z
          .string()
          .refine(isTimeZone, 'not an IANA time zone (e.g. America/Vancouver)')
          .optional()
          .describe(
            'The time zone of the statement and reminder schedules and of dates in mails; the space’s timezone policy when unset.',
          ),
        statementHour: z
          .int()
          .min(0)
          .max(23)
          .default(9)
          .describe('On the 1st, at this hour, the statements of the month just ended are made.'),
        reminderDaysBeforeGraceEnd: z
          .int()
          .min(0)
          .max(60)
          .default(3)
          .describe('Members still owing dues get a reminder this many days before their grace period ends (0: no reminders).'),
        depositAddresses: z
          .boolean()
          .default(true)
          .describe(
            'Put the member’s bitcoin deposit address and QR code in welcome mails and statements (needs the ChainNotifier).',
          ),
        retryFirstDelayMs: positiveMs.default(60_000).describe('The wait after a first temporary failure; doubled each time.'),
        retryMaxDelayMs: positiveMs
          .default(15 * 60_000)
          .describe('The longest wait between attempts, so a server back after an outage gets the mail within this.'),
        giveUpAfterHours: z
          .int()
          .min(1)
          .max(24 * 30)
          .default(72)
          .describe(
            'A mail still not accepted this long after it was queued (made, or retried by hand) is marked failed, and can be retried.',
          ),
        checkIntervalMs: positiveMs
          .default(60_000)
          .describe(
            'How often MemberMail looks for new members, payments, status changes and due schedules, and sends what is due.',
          ),
        operators: z
          .array(z.string().regex(/^[a-z][a-z0-9-]{0,62}$/))
          .default(['cli', 'server'])
          .describe('Clients that may read the outbox, retry, preview and run the mail jobs.'),
      })
      .prefault({}),
    payoutMgr: z
      .strictObject({
        walletDescriptor: z
          .string()
          .min(1)
          .max(10_000)
          .optional()
          .describe(
            'The space’s multisig wallet, watch-only: wsh(sortedmulti(M,[fingerprint/48h/0h/0h/2h]xpub…/0/*,…)) as Sparrow or Electrum export it (a /0/* descriptor gets its change from /1/*), or with /<0;1>/*. Unset with the simulated chain, a demo 2-of-3 wallet is made in dataDir (its keys in dataDir/demo-cosigners.json, for trying the signing steps).',
          ),
        birthHeight: z
          .int()
          .nonnegative()
          .optional()
          .describe('The first block that can hold the wallet’s coins (its birthday); the tip at first start when unset.'),
        gapLimit: z
          .int()
          .min(1)
          .max(10_000)
          .default(100)
          .describe(
            'Unused addresses watched beyond the last used one, on the receive and the change chain; raise it when the same descriptor also hands out member deposit addresses.',
          ),
        reorgLimit: z.int().min(1).max(100).default(6).describe('The deepest reorg the wallet undoes on its own.'),
        confirmations: z
          .int()
          .min(1)
          .max(100)
          .default(3)
          .describe('Confirmations before a payout counts as paid and enters the ledger.'),
        approvalsRequired: z
          .int()
          .min(1)
          .max(20)
          .default(2)
          .describe(
            'How many different approvers must approve a payout before it can be put in a PSBT (M of payoutMgr.approvers).',
          ),
        approvers: z
          .array(z.string().trim().min(1).max(80))
          .max(50)
          .default(['treasurer', 'admin'])
          .describe(
            'Who may approve or reject payouts: dashboard login names. Each decision is signed by one of the approver’s enrolled keys (a passkey, or a key file for the CLI: dctrl approver keygen). Distinct from the co-signers, who sign in their own wallets.',
          ),
        passkeyRpId: z
          .string()
          .min(1)
          .max(253)
          .default('localhost')
          .describe(
            'The WebAuthn relying party id of approvers’ passkeys: the dashboard’s host name (passkeys made for one host name do not sign for another). Changing it orphans the passkeys enrolled so far.',
          ),
        passkeyOrigins: z
          .array(z.url().max(300))
          .max(20)
          .default([])
          .describe(
            'The dashboard origins (https://dash.example.org) a passkey may sign on; empty: any origin whose host is passkeyRpId.',
          ),
        requesters: z
          .array(z.string().regex(/^[a-z][a-z0-9-]{0,62}$/))
          .default(['cli', 'server'])
          .describe(
            'Clients that may ask for payouts (a client added here also needs the grant to dctrl/v1/payout-mgr/rpc/request).',
          ),
        delegates: z
          .array(z.string().regex(/^[a-z][a-z0-9-]{0,62}$/))
          .default(['cli', 'server'])
          .describe(
            'Clients trusted to carry an approver’s signed decision or key (the CLI, the dashboard for its logged-in user); the signature, not the client, says who decides.',
          ),
        operators: z
          .array(z.string().regex(/^[a-z][a-z0-9-]{0,62}$/))
          .default(['cli', 'server'])
          .describe('Clients that may build, import, broadcast and discard PSBTs.'),
        readers: z
          .array(z.string().regex(/^[a-z][a-z0-9-]{0,62}$/))
          .default(['cli', 'server', 'member-mail'])
          .describe('Clients that may list payouts, PSBTs and the wallet.'),
        expiryHours: z
          .int()
          .min(1)
          .max(24 * 365)
          .default(24 * 14)
          .describe('A payout not yet in a PSBT this long after it was requested expires.'),
        rateMaxAgeMs: z
          .int()
          .min(1_000)
          .max(3_600_000)
          .default(300_000)
          .describe('How fresh the rate must be to convert a payout asked in the space’s currency.'),
        fee: z
          .strictObject({
            targetBlocks: z
              .int()
              .min(1)
              .max(1_008)
              .default(6)
              .describe('The confirmation target asked of the node’s fee estimate.'),
            floorSatPerVb: z.number().min(1).max(10_000).default(1).describe('Never a lower fee rate than this (sat/vB).'),
            ceilingSatPerVb: z
              .number()
              .min(1)
              .max(10_000)
              .default(200)
              .describe('Never a higher fee rate than this (sat/vB), whatever the estimate or the operator says.'),
            fallbackSatPerVb: z
              .number()
              .min(1)
              .max(10_000)
              .optional()
              .describe('The fee rate when the node has no estimate (a fresh regtest node); unset, building waits for one.'),
          })
          .prefault({}),
        pollMs: positiveMs.default(10_000).describe('How often the wallet follows the chain and payouts are checked.'),
      })
      .prefault({}),
    reporter: z
      .strictObject({
        ledgerWriters: z
          .record(
            z.string().regex(/^[a-z][a-z0-9-]{0,62}$/),
            z.array(z.enum(['payment', 'donation', 'purchase', 'adjustment', 'payout'])),
          )
          .default({
            cli: ['payment', 'donation', 'adjustment'],
            server: ['payment', 'donation', 'adjustment'],
            'chain-notifier': ['payment', 'donation', 'purchase', 'adjustment'],
            'business-mgr': ['purchase', 'adjustment'],
            'payout-mgr': ['payout'],
          })
          .describe(
            'Which clients may record which kinds of money movement in the ledger: a vending machine manager cannot record a payment, a payout manager nothing but payouts.',
          ),
        operators: z
          .array(z.string().regex(/^[a-z][a-z0-9-]{0,62}$/))
          .default(['cli', 'server'])
          .describe('Clients that may run the dues job on demand and rebuild the Reporter state.'),
        checkIntervalMs: positiveMs
          .default(60_000)
          .describe(
            'How often the Reporter catches up on member facts, charges any dues not yet charged and applies grace deadlines.',
          ),
      })
      .prefault({}),
    priceNotifier: z
      .strictObject({
        currency: currencyCode
          .default('CAD')
          .describe(
            'The currency rates are quoted in, as cents per bitcoin; set it to the space currency (BusinessData policy currency).',
          ),
        sources: z
          .array(priceSourceSchema)
          .min(1)
          .max(20)
          .default([{ kind: 'fixed', name: 'demo-fixed', centsPerBtc: 13_500_000 }])
          .describe(
            'Where rates come from, each {kind, name, baseUrl?, timeoutMs?}: kind kraken, coinbase, bitstamp or coingecko (their public ticker formats; baseUrl defaults to the exchange), or fixed with centsPerBtc (an offline demo rate, published as fixed and never mixed with live sources). The default is a fixed demo rate, because a fresh install has no internet to assume.',
          ),
        pollMs: positiveMs.default(60_000).describe('How often every source is asked for a quote.'),
        staleAfterMs: positiveMs
          .default(300_000)
          .describe('A quote older than this (by the source’s own time when it gives one) is stale and never used.'),
        outlierPercent: z
          .number()
          .positive()
          .max(100)
          .default(10)
          .describe('A fresh quote further than this from the median of all fresh quotes is dropped as an outlier.'),
        minSources: z
          .int()
          .min(1)
          .max(20)
          .default(1)
          .describe('How many sources must agree before a rate is published or quoted.'),
      })
      .superRefine((priceNotifier, context) => {
        const names = priceNotifier.sources.map((source) => source.name);
        const repeated = names.filter((name, index) => names.indexOf(name) !== index);
        if (repeated.length > 0) {
          context.addIssue({
            code: 'custom',
            path: ['sources'],
            message: `source names must differ; repeated: ${repeated.join(', ')}`,
          });
        }
        // A constant among market prices would either outvote them or be dropped as an outlier: a demo rate only.
        if (priceNotifier.sources.length > 1 && priceNotifier.sources.some((source) => source.kind === 'fixed')) {
          context.addIssue({ code: 'custom', path: ['sources'], message: 'a fixed source must be the only source' });
        }
        if (priceNotifier.pollMs >= priceNotifier.staleAfterMs) {
          context.addIssue({
            code: 'custom',
            path: ['pollMs'],
            message: `must be less than staleAfterMs (${priceNotifier.staleAfterMs} ms), or every quote goes stale before the next poll`,
          });
        }
        if (priceNotifier.minSources > priceNotifier.sources.length) {
          context.addIssue({
            code: 'custom',
            path: ['minSources'],
            message: `asks for ${priceNotifier.minSources} sources but only ${priceNotifier.sources.length} are configured`,
          });
        }
      })
      .prefault({}),
    broker: z
      .strictObject({
        url: z
          .string()
          .regex(/^(mqtts?|wss?):\/\/[^\s/]+(:\d+)?(\/.*)?$/, 'expected mqtt://, mqtts://, ws:// or wss:// with a host')
          .default('mqtt://127.0.0.1:1883')
          .describe('What clients connect to. When the broker runs in the same process, they use its real address instead.'),
        caFile: z
          .string()
          .min(1)
          .optional()
          .describe(
            'CA certificate that clients trust for mqtts:// and wss://, instead of the one their credentials bundle pins; the command line uses dataDir/tls/ca.pem when unset.',
          ),
        allowPlaintext: z
          .boolean()
          .default(false)
          .describe(
            'Let the command line send its token over mqtt:// or ws:// to a broker on another machine (--allow-plaintext); refused by default.',
          ),
        host: z
          .string()
          .min(1)
          .default('127.0.0.1')
          .describe('Where the embedded broker listens; loopback so nothing is exposed by default.'),
        port: listenPort.default(1883).describe('Plain MQTT port of the embedded broker; 0 picks a free one.'),
        tls: z
          .strictObject({
            enabled: z
              .boolean()
              .default(false)
              .describe(
                'Also listen for MQTT over TLS (for devices across untrusted networks); plain MQTT and WebSocket then listen on loopback only.',
              ),
            host: z
              .string()
              .min(1)
              .default('0.0.0.0')
              .describe('Where the TLS listener listens; every IPv4 interface, since it is there for devices on other machines.'),
            port: listenPort.default(8883).describe('MQTT over TLS port.'),
            certFile: z
              .string()
              .min(1)
              .optional()
              .describe('PEM certificate chain for the TLS listener; dataDir/tls/server.pem (`dctrl tls init`) when unset.'),
            keyFile: z
              .string()
              .min(1)
              .optional()
              .describe('PEM private key for the TLS listener; dataDir/tls/server.key when unset.'),
          })
          .prefault({}),
        websocket: z
          .strictObject({
            enabled: z.boolean().default(false).describe('Also listen for MQTT over WebSocket (browsers).'),
            port: listenPort.default(8080).describe('MQTT over WebSocket port.'),
          })
          .prefault({}),
        drainTimeoutMs: positiveMs
          .default(30_000)
          .describe('A client that stops reading is cut after this long, so one cannot stall delivery to all.'),
        limits: brokerLimitsSchema,
      })
      .prefault({}),
    bus: z
      .strictObject({
        freshnessWindowMs: positiveMs
          .default(120_000)
          .describe('Events issued longer ago are dropped as stale; also how long message ids are remembered against replay.'),
        maxClockSkewMs: z
          .int()
          .nonnegative()
          .default(5_000)
          .describe('How far in the future an issued-at may lie, for clocks that disagree a little.'),
        maxStateTtlMs: positiveMs
          .default(7 * 86_400_000)
          .describe('Retained state (key directory, revocations, status) may not be valid for longer than this.'),
        maxCommandTtlMs: positiveMs.default(60_000).describe('Commands and requests may not be valid for longer than this.'),
        maxMessageBytes: z
          .int()
          .min(1024)
          .max(10_485_760)
          .default(65_536)
          .describe('Larger messages are refused by the broker and dropped by receivers before parsing.'),
        auditPerSecond: z
          .int()
          .positive()
          .default(20)
          .describe('Audit events one client publishes per second at most; the rest are counted in the next one.'),
        verifyThreads: z
          .union([z.literal('auto'), z.int().min(0).max(16)])
          .default('auto')
          .describe(
            'Worker threads that check signatures under load, shared by one process; 0 checks on the main thread, auto uses all cores but one (at most 4).',
          ),
        heartbeatMs: positiveMs
          .default(30_000)
          .describe(
            'How often each client re-publishes its retained service.status; a status older than three of these means the client is gone.',
          ),
        requestTimeoutMs: positiveMs.default(5_000).describe('Request/response timeout when the caller names none.'),
      })
      .prefault({}),
    vault: z
      .strictObject({
        tokenTtlSeconds: z
          .int()
          .min(60)
          .max(30 * 86_400)
          .default(3_600)
          .describe(
            'Token lifetime; AuthProxy renews at two thirds of it. A token copied without its signing key works only until then (or until revoked)',
          ),
        apiTokenTtlSeconds: z
          .int()
          .min(60)
          .max(30 * 86_400)
          .default(30 * 86_400)
          .describe(
            'Lifetime of an API token (`dctrl token issue <client> --api`, the REST API Bearer token); not renewed, issue a new one before it ends',
          ),
        directoryTtlSeconds: z
          .int()
          .min(300)
          .max(7 * 86_400)
          .default(86_400)
          .describe('How long a published key directory is valid; the Vault re-signs it every quarter of that.'),
        secretReaders: z
          .record(z.string().regex(/^[a-z][a-z0-9-]{0,62}$/), z.array(z.string().regex(/^([a-z][a-z0-9-]{0,62}|@devices)$/)))
          .default({ 'fob-hash-key': ['member-data', '@devices'] })
          .describe(
            'Named secrets the Vault hands out over the bus, and the clients that may read each; @devices stands for every device in machines.devices.',
          ),
        revocationPollMs: positiveMs
          .default(1_000)
          .describe('How often the Vault looks for revocations and new keys made by the CLI, and publishes them.'),
      })
      .prefault({}),
    subscriptionMgr: z
      .strictObject({
        sessionSweepMs: positiveMs.default(1_000).describe('How often connected sessions are checked for expired tokens.'),
      })
      .prefault({}),
    eventLogger: z
      .strictObject({
        segmentMaxBytes: z
          .int()
          .min(4096)
          .default(64 * 1024 * 1024)
          .describe('Segment files are rotated at this size.'),
        fsync: z
          .enum(['always', 'interval', 'never'])
          .default('interval')
          .describe(
            'always: fsync every batch (slowest, loses nothing); interval: every fsyncIntervalMs; never: leave it to the OS.',
          ),
        fsyncIntervalMs: positiveMs.default(1_000).describe('How often the interval policy syncs the log to disk.'),
        checkpointIntervalMs: positiveMs
          .default(60_000)
          .describe('How often the signed head is written and published, so cutting records off the end shows.'),
        budgetBytes: z
          .int()
          .min(65_536)
          .default(8 * 1024 * 1024 * 1024)
          .describe(
            'Disk the event log may use (all segments); past it the EventLogger keeps writing and raises event-logger.alarm at every checkpoint.',
          ),
        warnAtPercent: z
          .int()
          .min(1)
          .max(100)
          .default(80)
          .describe('Share of budgetBytes at which the EventLogger first raises event-logger.alarm, so there is time to act.'),
        issuerBytesPerSecond: z
          .int()
          .positive()
          .default(1_048_576)
          .describe(
            'Bytes per second the log takes from one issuer, sustained (a second line of defence behind a broker without our quotas); past it records are dropped, counted and the count logged in the chain as event-logger.dropped.',
          ),
        issuerByteBurst: z
          .int()
          .positive()
          .default(67_108_864)
          .describe('Bytes the log takes from one issuer at once before issuerBytesPerSecond applies.'),
      })
      .prefault({}),
    log: z
      .strictObject({
        level: z
          .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
          .default('info')
          .describe('Service log level (JSON lines on stderr).'),
      })
      .prefault({}),
  })
  .superRefine((config, context) => {
    for (const [id, device] of Object.entries(config.machines.devices)) {
      if ((SERVICE_NAMES as readonly string[]).includes(id) || id === 'cli' || id === 'server') {
        context.addIssue({
          code: 'custom',
          path: ['machines', 'devices', id],
          message: `a device id is its bus client name and may not be a service's ("${id}")`,
        });
      }
      if (device.kind === 'door' && !(device.doorOutput in device.outputs)) {
        context.addIssue({
          code: 'custom',
          path: ['machines', 'devices', id, 'outputs'],
          message: `a door needs its doorOutput "${device.doorOutput}" among its outputs`,
        });
      }
    }
    for (const id of config.machines.local ?? []) {
      if (!(id in config.machines.devices)) {
        context.addIssue({ code: 'custom', path: ['machines', 'local'], message: `"${id}" is not in machines.devices` });
      }
    }
    const { fee, approvalsRequired, approvers } = config.payoutMgr;
    if (fee.floorSatPerVb > fee.ceilingSatPerVb) {
      context.addIssue({
        code: 'custom',
        path: ['payoutMgr', 'fee', 'floorSatPerVb'],
        message: `the floor (${fee.floorSatPerVb} sat/vB) is above the ceiling (${fee.ceilingSatPerVb} sat/vB)`,
      });
    }
    if (new Set(approvers).size < approvalsRequired) {
      context.addIssue({
        code: 'custom',
        path: ['payoutMgr', 'approvalsRequired'],
        message: `${approvalsRequired} approvals are required but payoutMgr.approvers names ${new Set(approvers).size} different people`,
      });
    }
    // A made-up rate is for the demo: on mainnet it would book real money at a price nobody quoted.
    if (config.chain.network === 'mainnet' && config.priceNotifier.sources.some((source) => source.kind === 'fixed')) {
      context.addIssue({
        code: 'custom',
        path: ['priceNotifier', 'sources'],
        message:
          'a fixed-rate source is for the demo and test networks; on mainnet configure market sources (kraken, coinbase, …)',
      });
    }
    // Retained state valid for longer than receivers accept would be dropped by all of them: the key
    // directory and revocations would never arrive.
    const stateLimit = config.bus.maxStateTtlMs;
    if (config.vault.directoryTtlSeconds * 1000 > stateLimit) {
      context.addIssue({
        code: 'custom',
        path: ['vault', 'directoryTtlSeconds'],
        message: `must be at most bus.maxStateTtlMs (${stateLimit} ms), or every receiver drops the key directory`,
      });
    }
    if (config.bus.heartbeatMs * 3 > stateLimit) {
      context.addIssue({
        code: 'custom',
        path: ['bus', 'heartbeatMs'],
        message: `three heartbeats must fit in bus.maxStateTtlMs (${stateLimit} ms)`,
      });
    }
  });

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

export type Config = Readonly<z.infer<typeof configSchema>>;
export type ConfigInput = z.input<typeof configSchema>;

/** Environment variables that carry secrets rather than config; read only where the secret is needed. */
export const SECRET_ENV_VARS = ['DCTRL_VAULT_PASSPHRASE', 'DCTRL_VAULT_KEY_FILE'] as const;
const ENV_PREFIX = 'DCTRL_';

export interface ConfigSources {
  file?: string;
  env?: Record<string, string | undefined>;
  /** Flag overrides as dotted key paths, e.g. `{ 'broker.port': '1884' }`. */
  overrides?: Record<string, unknown>;
}

/**
 * Builds the configuration from every source and validates it once.
 * @throws CoreError CORE_CONFIG_INVALID listing every bad key, or CORE_CONFIG_FILE_UNREADABLE.
 */
export function loadConfig(sources: ConfigSources = {}): Config {
  const merged: Record<string, unknown> = {};
  if (sources.file !== undefined) deepMerge(merged, readConfigFile(sources.file));
  const problems: string[] = [];
  for (const [path, value] of envOverrides(sources.env ?? {}, problems)) setPath(merged, path, value);
  for (const [path, value] of Object.entries(sources.overrides ?? {})) setPath(merged, path, value);
  const result = configSchema.safeParse(merged);
  if (!result.success) {
    for (const issue of result.error.issues) problems.push(describeConfigIssue(issue));
  }
  if (problems.length > 0) {
    throw new CoreError('CORE_CONFIG_INVALID', `invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
  return deepFreeze(result.data!);
}

export const DEFAULT_CONFIG_FILE = 'dctrl.config.json';

/** The config file to read: the one named, else ./dctrl.config.json when it exists. */
export function resolveConfigFile(named: string | undefined): string | undefined {
  if (named !== undefined) return named;
  return existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : undefined;
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new CoreError('CORE_CONFIG_FILE_UNREADABLE', `cannot read config file ${file}: ${(cause as Error).message}`, {
      cause,
    });
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new Error('the top level must be an object');
    }
    return parsed as Record<string, unknown>;
  } catch (cause) {
    throw new CoreError('CORE_CONFIG_FILE_UNREADABLE', `config file ${file} is not valid JSON: ${(cause as Error).message}`, {
      cause,
    });
  }
}

function describeConfigIssue(issue: z.core.$ZodIssue): string {
  const key = issue.path.join('.') || '(root)';
  if (issue.code === 'unrecognized_keys') {
    const prefix = issue.path.length > 0 ? `${key}.` : '';
    return `unknown key ${issue.keys.map((k) => `"${prefix}${k}"`).join(', ')}; see docs/configuration.md`;
  }
  return `"${key}": ${issue.message}`;
}

/** Maps `broker.tls.certFile` to `DCTRL_BROKER__TLS__CERT_FILE`. */
export function envNameFor(path: readonly string[]): string {
  return ENV_PREFIX + path.map((key) => key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('__');
}

/** Every leaf key path of the schema, for env-var names and the docs table. */
export function configKeyPaths(schema: z.ZodType = configSchema, prefix: string[] = []): string[][] {
  const inner = unwrap(schema);
  if (inner instanceof z.ZodObject) {
    return Object.entries(inner.shape).flatMap(([key, child]) => configKeyPaths(child as z.ZodType, [...prefix, key]));
  }
  return [prefix];
}

function unwrap(schema: z.ZodType): z.ZodType {
  let current = schema;
  while (current instanceof z.ZodDefault || current instanceof z.ZodPrefault || current instanceof z.ZodOptional) {
    current = current._zod.def.innerType as z.ZodType;
  }
  return current;
}

function envOverrides(env: Record<string, string | undefined>, problems: string[]): [string, unknown][] {
  const known = new Map(configKeyPaths().map((path) => [envNameFor(path), path.join('.')]));
  const overrides: [string, unknown][] = [];
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || value === undefined) continue;
    if ((SECRET_ENV_VARS as readonly string[]).includes(name)) continue;
    const path = known.get(name);
    if (path === undefined) {
      problems.push(`unknown environment variable ${name}; known ones are listed in docs/configuration.md`);
      continue;
    }
    overrides.push([path, coerceConfigText(path, value)]);
  }
  return overrides;
}

/**
 * Env vars and flags are text; read it as the key's type: strings stay strings (a data folder named 2024),
 * lists may be comma-separated or JSON, numbers and booleans are parsed.
 */
export function coerceConfigText(dottedPath: string, text: string): unknown {
  const leaf = leafSchema(dottedPath.split('.'));
  if (leaf instanceof z.ZodString) return text;
  if (leaf instanceof z.ZodArray) {
    const trimmed = text.trim();
    if (trimmed.startsWith('[')) return parseScalar(trimmed);
    return trimmed
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item.length > 0);
  }
  return parseScalar(text);
}

function leafSchema(path: readonly string[]): z.ZodType | undefined {
  let node: z.ZodType = configSchema;
  for (const key of path) {
    const inner = unwrap(node);
    if (!(inner instanceof z.ZodObject)) return undefined;
    const child = inner.shape[key] as z.ZodType | undefined;
    if (!child) return undefined;
    node = child;
  }
  return unwrap(node);
}

/** Numbers, booleans and JSON arrays are read as such; the rest stays a string. */
export function parseScalar(text: string): unknown {
  const trimmed = text.trim();
  if (/^-?\d+(\.\d+)?$/.test(trimmed) || trimmed === 'true' || trimmed === 'false' || trimmed.startsWith('[')) {
    try {
      return JSON.parse(trimmed);
    } catch {
      return text;
    }
  }
  return text;
}

function setPath(target: Record<string, unknown>, dottedPath: string, value: unknown): void {
  const keys = dottedPath.split('.');
  let node = target;
  for (const key of keys.slice(0, -1)) {
    const child = node[key];
    if (typeof child !== 'object' || child === null || Array.isArray(child)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[keys[keys.length - 1]!] = value;
}

function deepMerge(target: Record<string, unknown>, source: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(source)) {
    const existing = target[key];
    if (isPlainObject(value) && isPlainObject(existing)) deepMerge(existing, value);
    else target[key] = value;
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
