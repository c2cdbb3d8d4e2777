// The bus contract's building blocks: what a message type declares, and the registry of all of them.
import type { z } from 'zod';
import { CoreError } from './errors.js';
import { topicMatches } from './topic-filter.js';

/**
 * How a message type is checked for freshness:
 * - event: issued within the freshness window, handled once.
 * - command: carries expires-at (seconds away); moves the physical world or money.
 * - state: retained; valid until its expires-at, newer replaces older.
 * - request: carries reply-to, correlation id and expires-at; answered by an `rpc.reply`.
 * - reply: the answer to a request, on the requester's reply topic.
 */
export type MessageKind = 'event' | 'command' | 'state' | 'request' | 'reply';

/**
 * Who can read a sealed payload: fixed client names, `responder` (the service that owns a request's topic),
 * or names taken from the payload itself (the device an allow-list is for).
 */
export type SealRecipients<P> =
  | 'responder'
  | readonly string[]
  // Method form so a spec of one payload type still fits MessageSpec<unknown> (parameter bivariance).
  | { bivariance(payload: P): readonly string[] }['bivariance'];

/** Whether a type travels sealed (inside the signature), and to whom; see docs/design.md, "Sealed payloads". */
export interface SealSpec<P> {
  /** The message's own payload is sealed to these recipients; a clear one is refused. */
  readonly to?: SealRecipients<P>;
  /** For requests: the reply (result or error) is sealed to the requester, and a clear one is refused. */
  readonly reply?: boolean;
}

export interface MessageSpec<P = unknown> {
  readonly type: string;
  /** MQTT topic filter the message travels on; `{issuer}` stands for the signer's name. */
  readonly topic: string;
  readonly kind: MessageKind;
  readonly sealed?: SealSpec<P>;
  /** Who may sign this type: a list of client names, or any client in the directory. */
  readonly issuers: 'any' | readonly string[];
  readonly payload: z.ZodType<P>;
  /** Payload schema of the reply, for requests. */
  readonly reply?: z.ZodType;
  /**
   * For requests whose answer is a secret (a token): the reply goes to the requester's private reply
   * topic, outside dctrl/v1/#, so the EventLogger and anyone granted the public tree never see it.
   */
  readonly privateReply?: boolean;
  /** Whether the broker keeps the last one for new subscribers. */
  readonly retained?: boolean;
  readonly description: string;
  /**
   * For requests: who may ask, checked by the answering service before its handler runs (behind the broker's
   * grants, which a broker without our ACLs does not enforce). 'any' only where the handler itself decides by
   * the asker (a token renewal, a secret by vault.secretReaders, a device's own offline log).
   */
  readonly askers?: 'any' | readonly string[];
}

/** A request must say who may ask it; other kinds have no askers. */
export type MessageSpecInput<P> =
  | (Omit<MessageSpec<P>, 'kind' | 'askers'> & { readonly kind: Exclude<MessageKind, 'request'>; readonly askers?: never })
  | (Omit<MessageSpec<P>, 'kind' | 'askers'> & { readonly kind: 'request'; readonly askers: 'any' | readonly string[] });

export function defineMessage<P>(spec: MessageSpecInput<P>): MessageSpec<P> {
  return Object.freeze(spec);
}

export type PayloadOf<S> = S extends MessageSpec<infer P> ? P : never;

/** The topic a spec's message travels on for one issuer, with `+` left for the caller to fill. */
export function topicPatternFor(spec: MessageSpec, issuer: string): string {
  return spec.topic.replaceAll('{issuer}', issuer);
}

export class MessageRegistry {
  readonly #specs = new Map<string, MessageSpec>();

  constructor(specs: readonly MessageSpec[]) {
    for (const spec of specs) this.add(spec);
  }

  add(spec: MessageSpec): void {
    if (this.#specs.has(spec.type)) throw new Error(`message type ${spec.type} is defined twice`);
    if (spec.kind === 'request' && spec.askers === undefined) {
      throw new Error(`request type ${spec.type} does not say who may ask it (askers)`);
    }
    this.#specs.set(spec.type, spec);
  }

  get(type: string): MessageSpec | undefined {
    return this.#specs.get(type);
  }

  all(): MessageSpec[] {
    return [...this.#specs.values()];
  }

  /** Whether `asker` may ask the request `spec`; false for a spec that is no request. */
  static mayAsk(spec: MessageSpec, asker: string): boolean {
    if (spec.askers === undefined) return false;
    return spec.askers === 'any' || spec.askers.includes(asker);
  }

  /**
   * @throws CoreError when the type is unknown, the issuer may not sign it, or the topic is not its own.
   */
  checkRoute(type: string, issuer: string, topic: string): MessageSpec {
    const spec = this.#specs.get(type);
    if (!spec) throw new CoreError('CORE_ENVELOPE_UNKNOWN_TYPE', `message type "${type}" is not in the bus contract`);
    if (spec.issuers !== 'any' && !spec.issuers.includes(issuer)) {
      throw new CoreError(
        'CORE_ENVELOPE_ISSUER_NOT_ALLOWED',
        `"${issuer}" may not issue ${type}; allowed: ${spec.issuers.join(', ')}`,
      );
    }
    const pattern = topicPatternFor(spec, issuer);
    if (!topicMatches(pattern, topic)) {
      throw new CoreError('CORE_ENVELOPE_WRONG_TOPIC', `${type} from "${issuer}" must travel on ${pattern}, got ${topic}`);
    }
    return spec;
  }
}
