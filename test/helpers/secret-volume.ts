import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';

export interface SecretVolume {
  dir: string;
  certFile: string;
  keyFile: string;
  /** Puts a new pair in place the way the kubelet updates a Secret volume. */
  install(cert: string, key: string): Promise<void>;
}

/**
 * A folder laid out as the kubelet lays out a Secret volume (AtomicWriter): the files live
 * in a timestamped directory, `..data` points at it, `cert.pem -> ..data/cert.pem`. An
 * update writes a new directory, points `..data_tmp` at it, renames `..data_tmp` over
 * `..data` and removes the old directory. Removed at teardown of `t`.
 */
export async function secretVolume(t: Test, cert: string, key: string): Promise<SecretVolume> {
  const dir = await mkdtemp(join(tmpdir(), 'secret-volume-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  let generation = 0;
  let current: string | undefined;
  const volume: SecretVolume = {
    dir,
    certFile: join(dir, 'cert.pem'),
    keyFile: join(dir, 'key.pem'),
    async install(newCert, newKey) {
      generation++;
      const data = `..2024_01_01_00_00_${String(generation).padStart(2, '0')}.${process.pid}`;
      await mkdir(join(dir, data));
      await writeFile(join(dir, data, 'cert.pem'), newCert);
      await writeFile(join(dir, data, 'key.pem'), newKey, { mode: 0o600 });
      await symlink(data, join(dir, '..data_tmp'));
      await rename(join(dir, '..data_tmp'), join(dir, '..data'));
      if (current === undefined) {
        await symlink(join('..data', 'cert.pem'), join(dir, 'cert.pem'));
        await symlink(join('..data', 'key.pem'), join(dir, 'key.pem'));
      } else {
        await rm(join(dir, current), { recursive: true, force: true });
      }
      current = data;
    },
  };
  await volume.install(cert, key);
  return volume;
}
