// Bus access tokens: EdDSA JWTs from the Vault that name a client and its topic grants.
import { errors as joseErrors, jwtVerify, SignJWT, decodeJwt } from 'jose';
import { z } from 'zod';
import type { KeyObject } from 'node:crypto';
import type { Clock } from './clock.js';
import { clientNameSchema } from './envelope.js';
import { errorClass } from './errors.js';
import { assertTopicFilter } from './topic-filter.js';

export const TOKEN_ISSUER = 'dctrl-vault';
export const TOKEN_AUDIENCE = 'dctrl-bus';

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
  acl: grantsSchema,
});

export interface TokenClaims {
  client: string;
  tokenId: string;
  issuedAt: number;
  expiresAt: number;
  grants: Grants;
}

export const TokenErrorCodes = {
  TOKEN_MALFORMED: 'The token is not a JWT of the expected shape.',
  TOKEN_EXPIRED: 'The token has expired; the client must renew it or get a new one from the Vault.',
  TOKEN_BAD_SIGNATURE: 'The token was not signed by this Vault.',
  TOKEN_REVOKED: 'The token was revoked by an operator.',
} as const;

export const TokenError = errorClass('TokenError', TokenErrorCodes);
export type TokenError = InstanceType<typeof TokenError>;

export async function signToken(rootKey: KeyObject, claims: TokenClaims): Promise<string> {
  return new SignJWT({ acl: claims.grants })
    .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT' })
    .setIssuer(TOKEN_ISSUER)
    .setAudience(TOKEN_AUDIENCE)
    .setSubject(claims.client)
    .setJti(claims.tokenId)
    .setIssuedAt(Math.floor(claims.issuedAt / 1000))
    .setExpirationTime(Math.floor(claims.expiresAt / 1000))
    .sign(rootKey);
}

/**
 * Verifies a token's signature, issuer, audience and expiry against the injected clock.
 * @throws TokenError TOKEN_MALFORMED, TOKEN_EXPIRED or TOKEN_BAD_SIGNATURE.
 */
export async function verifyToken(token: string, rootPublicKey: KeyObject, clock: Clock): Promise<TokenClaims> {
  let payload: unknown;
  try {
    ({ payload } = await jwtVerify(token, rootPublicKey, {
      issuer: TOKEN_ISSUER,
      audience: TOKEN_AUDIENCE,
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
  const { sub, jti, iat, exp, acl } = parsed.data;
  return { client: sub, tokenId: jti, issuedAt: iat * 1000, expiresAt: exp * 1000, grants: acl };
}
