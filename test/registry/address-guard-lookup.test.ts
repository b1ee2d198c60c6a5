/**
 * guardedLookup looks at every address a name resolves to: node:net tries them in turn
 * (autoSelectFamily, or after a failed connect), so a name with a public address first and
 * a loopback or metadata one after it must be refused as a whole.
 */
import t from 'tap';
import type { LookupAddress } from 'node:dns';

const answers: Record<string, LookupAddress[]> = {
  'mixed.example': [
    { address: '203.0.113.7', family: 4 },
    { address: '169.254.169.254', family: 4 },
  ],
  'public.example': [
    { address: '203.0.113.7', family: 4 },
    { address: '2001:db8::7', family: 6 },
  ],
};

const { guardedLookup, RefusedAddressError } = await t.mockImport<typeof import('../../src/registry/address-guard.js')>('../../src/registry/address-guard.js', {
  'node:dns': {
    lookup: (hostname: string, _options: unknown, callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => {
      const found = answers[hostname];
      if (found === undefined) callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), []);
      else callback(null, found);
    },
  },
});

function resolveWith(allowed: boolean, hostname: string, all: boolean): Promise<{ error: Error | null; address: unknown }> {
  return new Promise((resolve) => {
    guardedLookup(() => allowed)(hostname, { all }, (error, address) => resolve({ error, address }));
  });
}

t.test('a name whose later address is a metadata address is refused', async (t) => {
  for (const all of [true, false]) {
    const { error } = await resolveWith(false, 'mixed.example', all);
    t.type(error, RefusedAddressError, `all: ${all}`);
    t.match(error?.message, /mixed\.example resolves to 169\.254\.169\.254, a cloud metadata address/);
  }
});

t.test('a name the operator named gets every address; an ordinary name its addresses as asked', async (t) => {
  t.same(await resolveWith(true, 'mixed.example', true), { error: null, address: answers['mixed.example'] });
  t.same(await resolveWith(false, 'public.example', true), { error: null, address: answers['public.example'] });
  t.same(await resolveWith(false, 'public.example', false), { error: null, address: '203.0.113.7' });
  t.match((await resolveWith(false, 'nowhere.example', false)).error, { code: 'ENOTFOUND' });
});
