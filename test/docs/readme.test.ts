/** The README documents every flag `--help` shows and every annotation the webhook reads. */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { COMMAND_FLAGS, GLOBAL_FLAGS } from '../../src/cli/flags.js';
import * as annotations from '../../src/core/annotations.js';
import { COMMAND_ANNOTATION_PREFIX } from '../../src/core/command-override.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

t.test('every visible flag is in the README', async (t) => {
  for (const spec of [...GLOBAL_FLAGS, ...Object.values(COMMAND_FLAGS).flat()]) {
    if (spec.hidden === true) continue;
    t.ok(readme.includes(`--${spec.name}`), `--${spec.name}`);
  }
});

t.test('every annotation is in the README', async (t) => {
  const names = Object.entries(annotations)
    .filter(([key, value]) => key.startsWith('ANNOTATION_') && typeof value === 'string')
    .map(([, value]) => value as string);
  t.ok(names.length >= 7, `${names.length} annotations`);
  for (const name of [...names, `${COMMAND_ANNOTATION_PREFIX}<container>`]) t.ok(readme.includes(`\`${name}`), name);
});
