/**
 * Base64 of a text's UTF-8 bytes, as `Buffer.from(text).toString('base64')` gives it. A text
 * whose UTF-8 length equals its length is ASCII (any other character takes two or more bytes
 * for one UTF-16 unit, or four for two), and ASCII is its own Latin-1, which `btoa` encodes
 * without building a Buffer first: a JSON Patch is nearly always ASCII.
 */
export function utf8Base64(text: string): string {
  return Buffer.byteLength(text) === text.length ? btoa(text) : Buffer.from(text).toString('base64');
}
