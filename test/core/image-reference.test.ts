import t from 'tap';
import { ImageReferenceError, formatImageReference, parseImageReference } from '../../src/core/image-reference.js';

const HEX = '0123456789abcdef'.repeat(4);

/** tap's `t.throws(fn, Class)` does not match this class (its `name` stays "Error"), so check instanceof here. */
function throwsImageReferenceError(fn: () => unknown): boolean {
  try {
    fn();
  } catch (error) {
    return error instanceof ImageReferenceError;
  }
  return false;
}

t.test('valid references', async (t) => {
  const cases: Array<[string, ReturnType<typeof parseImageReference>]> = [
    ['nginx', { domain: 'docker.io', path: 'library/nginx' }],
    ['nginx:1.25', { domain: 'docker.io', path: 'library/nginx', tag: '1.25' }],
    ['library/nginx:1.25', { domain: 'docker.io', path: 'library/nginx', tag: '1.25' }],
    ['bitnami/redis', { domain: 'docker.io', path: 'bitnami/redis' }],
    ['registry:5000/secrets-init', { domain: 'registry:5000', path: 'secrets-init' }],
    ['registry:5000/secrets-init:0.3.0', { domain: 'registry:5000', path: 'secrets-init', tag: '0.3.0' }],
    [
      `ghcr.io/doitintl/secrets-init:0.5.3@sha256:${HEX}`,
      { domain: 'ghcr.io', path: 'doitintl/secrets-init', tag: '0.5.3', digest: `sha256:${HEX}` },
    ],
    [`ghcr.io/doitintl/secrets-init@sha256:${HEX}`, { domain: 'ghcr.io', path: 'doitintl/secrets-init', digest: `sha256:${HEX}` }],
    [`registry:5000/a@sha256:${HEX}`, { domain: 'registry:5000', path: 'a', digest: `sha256:${HEX}` }],
    ['localhost/x', { domain: 'localhost', path: 'x' }],
    ['localhost:5000/x:dev', { domain: 'localhost:5000', path: 'x', tag: 'dev' }],
    ['index.docker.io/x', { domain: 'docker.io', path: 'library/x' }],
    ['index.docker.io/org/x:1', { domain: 'docker.io', path: 'org/x', tag: '1' }],
    ['docker.io/x', { domain: 'docker.io', path: 'library/x' }],
    ['[::1]:5000/a/b:c', { domain: '[::1]:5000', path: 'a/b', tag: 'c' }],
    ['europe-docker.pkg.dev/proj/repo/img:v1.2_3-rc.4', { domain: 'europe-docker.pkg.dev', path: 'proj/repo/img', tag: 'v1.2_3-rc.4' }],
    ['a.b/c__d/e-f/g.h', { domain: 'a.b', path: 'c__d/e-f/g.h' }],
    ['registry', { domain: 'docker.io', path: 'library/registry' }],
    ['lowercase:Uppercase', { domain: 'docker.io', path: 'library/lowercase', tag: 'Uppercase' }],
    ['registry:5000', { domain: 'docker.io', path: 'library/registry', tag: '5000' }],
    // A first component with upper case is a registry host, as in the distribution
    // reference grammar the kubelet uses (docker.io's "Uppercase/lowercase" quirk).
    ['UPPER/case', { domain: 'UPPER', path: 'case' }],
  ];
  for (const [input, expected] of cases) {
    t.strictSame(parseImageReference(input), expected, input);
  }
});

t.test('formatting gives the canonical form', async (t) => {
  t.equal(formatImageReference(parseImageReference('nginx')), 'docker.io/library/nginx');
  t.equal(formatImageReference(parseImageReference('index.docker.io/x:1')), 'docker.io/library/x:1');
  const full = `ghcr.io/doitintl/secrets-init:0.5.3@sha256:${HEX}`;
  t.equal(formatImageReference(parseImageReference(full)), full);
  t.equal(formatImageReference(parseImageReference('[::1]:5000/a/b:c')), '[::1]:5000/a/b:c');
});

t.test('invalid references throw ImageReferenceError', async (t) => {
  for (const input of [
    'upper/CASE',
    'registry:5000/Secrets-init',
    'Uppercase',
    'Uppercase:tag',
    'a:',
    ':tag',
    'a@sha256:short',
    `a@sha256:${HEX.slice(0, 31)}`,
    'a@',
    `@sha256:${HEX}`,
    '',
    ' a',
    'a ',
    'a//b',
    '/a',
    'a/',
    'a:b:c',
    'a:-tag',
    `a:${'t'.repeat(129)}`,
    '-a/b',
    'a/b-',
    'a..b/c',
    'registry:port/x',
    `a:${'x'.repeat(5000)}`,
  ]) {
    t.ok(throwsImageReferenceError(() => parseImageReference(input)), JSON.stringify(input));
  }
});
