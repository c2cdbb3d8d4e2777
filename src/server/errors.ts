// Server error codes, each with the HTTP status it answers with.
import { errorClass } from '../core/errors.js';

export const ServerErrorCodes = {
  SERVER_NOT_LOGGED_IN:
    'No valid session or API token came with the request (401): log in, or send `Authorization: Bearer <API token>` (`dctrl token issue <client> --api`).',
  SERVER_TOKEN_WRONG_AUDIENCE:
    'The Bearer token is a bus token (the MQTT password, which any broker on the way sees), not an API token (401): issue one with `dctrl token issue <client> --api`.',
  SERVER_SESSION_EXPIRED:
    'The session was unused for server.sessionIdleMinutes or is older than server.sessionMaxHours (401): log in again.',
  SERVER_LOGIN_FAILED: 'The name or the password is wrong (401); the answer does not say which.',
  SERVER_LOGIN_RATE_LIMITED:
    'Too many failed logins for this name from this address (server.loginMaxFailures), or from this address for any name (server.loginMaxFailuresPerAddress), within server.loginWindowMinutes (429): each further try waits twice as long; Retry-After says when to try again. Another address is not slowed.',
  SERVER_CROSS_SITE:
    'A request that changes something came from another site (its Origin or Sec-Fetch-Site says so) (403): use the dashboard itself, or call the API from a program, which sends neither header.',
  SERVER_UNSUPPORTED_MEDIA_TYPE:
    'A request body that is not application/json (415): send JSON with `Content-Type: application/json`; forms and text/plain are refused, as other sites can send them.',
  SERVER_FORBIDDEN: 'The role of this session or token may not do this, or a member asked for another member’s data (403).',
  SERVER_BAD_REQUEST: 'A path, query or body value is missing or malformed (400); the message names it.',
  SERVER_NOT_FOUND: 'No such route, member, invoice or file (404).',
  SERVER_BODY_TOO_LARGE: 'The request body is larger than server.maxBodyBytes (413).',
  SERVER_USER_INVALID:
    'A dashboard user must have a name of lowercase letters, digits, "." or "-", a known role, a member id for the member role, and a password of at least 12 characters.',
  SERVER_INTERNAL: 'The server failed on its own account (500); its log says why.',
  SERVER_LISTEN_FAILED:
    'The dashboard could not listen on server.host and server.port (taken, or not allowed); choose another with --set server.port=….',
} as const;

export const ServerError = errorClass('ServerError', ServerErrorCodes);
export type ServerError = InstanceType<typeof ServerError>;

export const HTTP_STATUS: Record<keyof typeof ServerErrorCodes, number> = {
  SERVER_NOT_LOGGED_IN: 401,
  SERVER_TOKEN_WRONG_AUDIENCE: 401,
  SERVER_SESSION_EXPIRED: 401,
  SERVER_LOGIN_FAILED: 401,
  SERVER_LOGIN_RATE_LIMITED: 429,
  SERVER_CROSS_SITE: 403,
  SERVER_UNSUPPORTED_MEDIA_TYPE: 415,
  SERVER_FORBIDDEN: 403,
  SERVER_BAD_REQUEST: 400,
  SERVER_NOT_FOUND: 404,
  SERVER_BODY_TOO_LARGE: 413,
  SERVER_USER_INVALID: 400,
  SERVER_INTERNAL: 500,
  SERVER_LISTEN_FAILED: 500,
};
