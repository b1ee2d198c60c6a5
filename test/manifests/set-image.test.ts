/**
 * Setting the image: every `kustomize edit set image …` command the docs and the base's
 * kustomization tell users to run in their own overlay must really change the Deployment's
 * image. kustomize matches an `images:` entry by the image name as it is when the entry runs,
 * and the base has already renamed its logical name to the placeholder by then, so a command
 * naming the logical name would leave the placeholder in place (InvalidImageName: no replica,
 * and with failurePolicy Fail no pod created in the selected namespaces).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { V1Deployment } from '@kubernetes/client-node';
import t from 'tap';
import { REPO_ROOT } from '../helpers/webhook-process.js';
import { webhookContainer } from './fixtures/checks.js';
import { APP_NAME, buildOverlay, find } from './fixtures/kustomize.js';
import type { KubeObject } from './fixtures/kustomize.js';

const DOCUMENTS = ['README.md', 'docs/install.md', 'manifests/base/kustomization.yaml'];

/** `kustomize edit set image NAME=NEWNAME[:TAG|@DIGEST]` as kustomize parses it, placeholders filled in. */
function imageEntry(argument: string): { name: string; newName: string; newTag?: string; digest?: string } {
  const filled = argument.replace(/<you>/g, 'example').replace(/<version>|<new>/g, '9.9.9');
  const [name, target] = filled.split('=');
  if (name === undefined || target === undefined) throw new Error(`not NAME=NEWNAME: ${argument}`);
  const [withoutDigest, digest] = target.split('@');
  const tagged = /^(.*):([a-zA-Z0-9._-]*)$/.exec(withoutDigest ?? '');
  return {
    name,
    newName: tagged?.[1] ?? withoutDigest ?? '',
    ...(tagged?.[2] !== undefined ? { newTag: tagged[2] } : {}),
    ...(digest !== undefined ? { digest } : {}),
  };
}

t.test('every documented `kustomize edit set image` sets the image of the Deployment', async (t) => {
  const commands: Array<{ where: string; argument: string }> = [];
  for (const document of DOCUMENTS) {
    const text = await readFile(join(REPO_ROOT, document), 'utf8');
    for (const match of text.matchAll(/kustomize edit set image\s+([^\s`]+)/g)) commands.push({ where: document, argument: match[1] as string });
  }
  t.same([...new Set(commands.map((c) => c.where))].sort(), [...DOCUMENTS].sort(), 'each document says how to set the image');
  for (const { where, argument } of commands) {
    const entry = imageEntry(argument);
    const expected = `${entry.newName}${entry.newTag !== undefined ? `:${entry.newTag}` : ''}${entry.digest !== undefined ? `@${entry.digest}` : ''}`;
    for (const overlay of ['overlays/self-signed', 'overlays/cert-manager']) {
      const objects = await buildOverlay(t, { resources: [overlay], images: [entry] });
      const image = webhookContainer(find<KubeObject & V1Deployment>(objects, 'Deployment', APP_NAME)).image;
      t.equal(image, expected, `${where}: set image ${argument}, over ${overlay}`);
    }
  }
});
