// The canonical byte encoding that signatures cover: RFC 8785 JSON Canonicalization Scheme.
import canonicalizeModule from 'canonicalize';

// The package is CommonJS whose module.exports is the function; its typings describe an ES default export.
const canonicalize = canonicalizeModule as unknown as (value: unknown) => string | undefined;

/**
 * Encodes a JSON value as RFC 8785 canonical UTF-8 bytes, identical on every machine.
 * @throws TypeError when the value cannot be represented in JSON (undefined, functions, NaN).
 */
export function canonicalBytes(value: unknown): Buffer {
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError('value has no JSON representation');
  return Buffer.from(text, 'utf8');
}
