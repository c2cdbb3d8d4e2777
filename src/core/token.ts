// Access tokens: EdDSA JWTs from the Vault that name a client and its topic grants, for one audience: the bus
// (the MQTT CONNECT password, which a foreign broker sees) or the REST API (a Bearer token, never sent to a broker).
import { errors as joseErrors, jwtVerify, SignJWT, decodeJwt } from 'jose';
import { z } from 'zod';
import type { KeyObject } from 'node:crypto';
import type { Clock } from './clock.js';
import { clientNameSchema } from './envelope.js';
import { errorClass } from './errors.js';
import { assertTopicFilter } from './topic-filter.js';

export const TOKEN_ISSUER = 'dctrl-vault';
export const TOKEN_AUDIENCES = { bus: 'dctrl-bus', api: 'dctrl-api' } as const;
export type TokenAudience = keyof typeof TOKEN_AUDIENCES;

const topicFilterSchema = z
  .string()
  .min(1)
  .max(1024)
  .refine((filter) => {
    try {
      assertTopicFilter(filter);
      return true;
    } catch {
      return false;
    }
  }, 'not a valid MQTT topic filter');

export const grantsSchema = z.strictObject({
  pub: z.array(topicFilterSchema).max(256),
  sub: z.array(topicFilterSchema).max(256),
});
export type Grants = z.infer<typeof grantsSchema>;

const claimsSchema = z.object({
  sub: clientNameSchema,
  jti: z.string().min(1).max(64),
  iat: z.int(),
  exp: z.int(),
  aud: z.enum(Object.values(TOKEN_AUDIENCES)),
  acl: grantsSchema,
});

export interface TokenClaims {
  client: string;
  tokenId: string;
  issuedAt: number;
  expiresAt: number;
  grants: Grants;
  audience: TokenAudience;
}

export const TokenErrorCodes = {
  TOKEN_MALFORMED: 'The token is not a JWT of the expected shape.',
  TOKEN_EXPIRED: 'The token has expired; the client must renew it or get a new one from the Vault.',
  TOKEN_BAD_SIGNATURE: 'The token was not signed by this Vault.',
  TOKEN_REVOKED: 'The token was revoked by an operator.',
  TOKEN_WRONG_AUDIENCE:
    'The token is for another audience: a bus token (the MQTT password) is not accepted by the REST API, nor an API token by the broker. Issue one for this use (`dctrl token issue <client> --api` for the REST API).',
} as const;

export const TokenError = errorClass('TokenError', TokenErrorCodes);
export type TokenError = InstanceType<typeof TokenError>;

export async function signToken(rootKey: KeyObject, claims: TokenClaims): Promise<string> {
  return new SignJWT({ acl: claims.grants })
    .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT' })
    .setIssuer(TOKEN_ISSUER)
    .setAudience(TOKEN_AUDIENCES[claims.audience])
    .setSubject(claims.client)
    .setJti(claims.tokenId)
    .setIssuedAt(Math.floor(claims.issuedAt / 1000))
    .setExpirationTime(Math.floor(claims.expiresAt / 1000))
    .sign(rootKey);
}

/**
 * Verifies a token's signature, issuer, audience and expiry against the injected clock.
 * @throws TokenError TOKEN_MALFORMED, TOKEN_EXPIRED, TOKEN_BAD_SIGNATURE or TOKEN_WRONG_AUDIENCE.
 */
export async function verifyToken(
  token: string,
  rootPublicKey: KeyObject,
  clock: Clock,
  audience: TokenAudience,
): Promise<TokenClaims> {
  let payload: unknown;
  try {
    ({ payload } = await jwtVerify(token, rootPublicKey, {
      issuer: TOKEN_ISSUER,
      audience: TOKEN_AUDIENCES[audience],
      algorithms: ['EdDSA'],
      currentDate: new Date(clock.now()),
      clockTolerance: 0,
    }));
  } catch (cause) {
    if (cause instanceof joseErrors.JWTExpired) {
      throw new TokenError('TOKEN_EXPIRED', 'token expired; renew it or issue a new one with `dctrl token issue`', { cause });
    }
    if (cause instanceof joseErrors.JWSSignatureVerificationFailed) {
      throw new TokenError('TOKEN_BAD_SIGNATURE', 'token signature does not verify with the Vault root key', { cause });
    }
    if (cause instanceof joseErrors.JWTClaimValidationFailed && cause.claim === 'aud') {
      const said = JSON.stringify(cause.payload.aud ?? null);
      throw new TokenError(
        'TOKEN_WRONG_AUDIENCE',
        `expected a token for "${TOKEN_AUDIENCES[audience]}", got one for ${said}; issue one for this use${audience === 'api' ? ' with `dctrl token issue <client> --api`' : ' with `dctrl token issue <client>`'}`,
        { cause },
      );
    }
    throw new TokenError('TOKEN_MALFORMED', `token rejected: ${(cause as Error).message}`, { cause });
  }
  return claimsFromPayload(payload);
}

/** Reads claims without checking the signature: only for display and for picking a renewal time. */
export function readTokenUnverified(token: string): TokenClaims {
  try {
    return claimsFromPayload(decodeJwt(token));
  } catch (cause) {
    if (cause instanceof TokenError) throw cause;
    throw new TokenError('TOKEN_MALFORMED', `not a JWT: ${(cause as Error).message}`, { cause });
  }
}

function claimsFromPayload(payload: unknown): TokenClaims {
  const parsed = claimsSchema.safeParse(payload);
  if (!parsed.success) {
    throw new TokenError('TOKEN_MALFORMED', `token claims invalid: ${parsed.error.issues[0]?.message ?? 'unknown'}`);
  }
  const { sub, jti, iat, exp, aud, acl } = parsed.data;
  const audience = aud === TOKEN_AUDIENCES.api ? 'api' : 'bus';
  return { client: sub, tokenId: jti, issuedAt: iat * 1000, expiresAt: exp * 1000, grants: acl, audience };
}
