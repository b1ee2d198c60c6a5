import t from 'tap';
import fc from 'fast-check';
import { utf8Base64 } from '../../src/admission/base64.js';

const reference = (text: string) => Buffer.from(text).toString('base64');
/** The text with every character outside printable ASCII as \uXXXX: a TAP-safe test name. */
const shown = (text: string) => text.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

t.test('utf8Base64: the base64 of the UTF-8 bytes, for ASCII and for everything else', async (t) => {
  for (const text of ['', 'a', 'ab', 'abc', '[{"op":"add"}]', '\u007f', '\u0080', 'é', 'a\u07ff', '\u0800', '\uffff', '😀', '\ud800', 'x\udc00y', '\ud83d', 'a\u2028b']) {
    t.equal(utf8Base64(text), reference(text), shown(text));
  }
  // Lone surrogates become U+FFFD in UTF-8, as Buffer writes them: never btoa's Latin-1.
  t.equal(Buffer.from(utf8Base64('\ud800'), 'base64').toString(), '\ufffd');
  fc.assert(
    fc.property(fc.oneof(fc.string({ unit: 'grapheme', maxLength: 200 }), fc.string({ unit: 'binary', maxLength: 200 }), fc.string({ maxLength: 200 })), (text) => {
      if (utf8Base64(text) !== reference(text)) throw new Error(`differs for ${shown(text)}`);
    }),
    { numRuns: 2000 },
  );
});
