/**
 * A {@link TlsSource} backed by a certificate file and a key file that may be replaced while
 * the webhook runs: cert-manager, the kubelet refreshing a Secret volume, or an operator.
 *
 * Kubernetes Secret volumes update atomically through a symlink swap
 * (`cert.pem -> ..data/cert.pem`, `..data -> ..2024_01_01_00_00_00.123`, and `..data` is
 * replaced by a rename), so the files' own inodes never change: watching the files would
 * miss it. This source watches the DIRECTORIES holding the files (as given, and where their
 * symlinks lead), debounces the burst of events a rotation makes, and also polls (content
 * hash) as a fallback, since inotify can miss a swap and some volumes have no events at all.
 *
 * A changed pair is validated with {@link loadTlsMaterial} before anyone sees it. A broken
 * pair (truncated file, key of another certificate, half of a rotation written) is logged and
 * ignored: the previous certificate stays in use, and the files are checked again on the next
 * event or poll until a good pair appears. Logs name files and problems, never key material.
 */
import { createHash } from 'node:crypto';
import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Logger } from 'pino';
import { loadTlsMaterial, readTlsFiles, tlsMaterialFrom, TlsMaterialError } from './material.js';
import type { TlsFileTexts, TlsMaterial } from './material.js';
import { describeCertificate } from './server-tls.js';
import type { TlsSource } from './source.js';

export interface WatchTlsFilesOptions {
  logger: Logger;
  /** Quiet time after the last file-system event before the files are read again (default 250 ms). */
  debounceMs?: number;
  /** Interval of the content-hash poll that catches changes the watchers missed (default 10 s; 0 turns polling off). */
  pollMs?: number;
  /** A PEM bundle of client CAs (--client-ca-file), watched and reloaded with the pair. */
  clientCaFile?: string;
}

export const DEFAULT_DEBOUNCE_MS = 250;
export const DEFAULT_POLL_MS = 10_000;

/**
 * Loads the pair (rejecting with {@link TlsMaterialError} when it is unusable, as at startup)
 * and keeps watching it. `close()` stops watching and polling.
 */
export async function watchTlsFiles(certFile: string, keyFile: string, options: WatchTlsFilesOptions): Promise<TlsSource> {
  const initial = await loadTlsMaterial(certFile, keyFile, options.clientCaFile);
  const source = new FileTlsSource(certFile, keyFile, initial, options);
  await source.start();
  return source;
}

function contentHash(cert: string, key: string, clientCa: string | undefined): string {
  const hash = createHash('sha256');
  hash.update(cert);
  hash.update('\0');
  hash.update(key);
  hash.update('\0');
  hash.update(clientCa ?? '');
  return hash.digest('hex');
}

class FileTlsSource implements TlsSource {
  private material: TlsMaterial;
  private materialHash: string;
  private readonly listeners = new Set<(material: TlsMaterial) => void>();
  private readonly rejectionListeners = new Set<() => void>();
  private readonly clientCaFile: string | undefined;
  /** Watched directories, with the inode watched (a directory replaced by a new one needs a new watch). */
  private readonly watchers = new Map<string, { watcher: FSWatcher; ino: number }>();
  /** Directories whose watch could not be set up (already reported). */
  private readonly unwatchable = new Set<string>();
  private readonly logger: Logger;
  private readonly debounceMs: number;
  private readonly pollMs: number;
  /** Content hash of the last pair that failed validation: not re-validated or re-reported until the files change. */
  private rejectedHash: string | undefined;
  /** What the last failure was about, so a persisting problem is reported once, not on every poll. */
  private lastFailure: string | undefined;
  private debounceTimer: NodeJS.Timeout | undefined;
  private firstEventAt: number | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;

  constructor(
    private readonly certFile: string,
    private readonly keyFile: string,
    initial: TlsMaterial,
    options: WatchTlsFilesOptions,
  ) {
    this.material = initial;
    this.materialHash = contentHash(initial.cert, initial.key, initial.clientCa);
    this.clientCaFile = options.clientCaFile;
    this.logger = options.logger;
    this.debounceMs = Math.max(0, options.debounceMs ?? DEFAULT_DEBOUNCE_MS);
    this.pollMs = Math.max(0, options.pollMs ?? DEFAULT_POLL_MS);
  }

  async start(): Promise<void> {
    await this.syncWatchers();
    if (this.pollMs > 0) {
      this.pollTimer = setInterval(() => void this.check(), this.pollMs);
      this.pollTimer.unref();
    }
    this.logger.debug(
      { certFile: this.certFile, keyFile: this.keyFile, directories: [...this.watchers.keys()], pollMs: this.pollMs },
      'watching TLS files for rotation',
    );
    // A rotation between the initial load and the watches being set up would otherwise wait for the poll.
    void this.check();
  }

  current(): TlsMaterial {
    return this.material;
  }

  onChange(listener: (material: TlsMaterial) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  onRejected(listener: () => void): () => void {
    this.rejectionListeners.add(listener);
    return () => {
      this.rejectionListeners.delete(listener);
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.debounceTimer);
    clearInterval(this.pollTimer);
    for (const { watcher } of this.watchers.values()) watcher.close();
    this.watchers.clear();
    this.listeners.clear();
    this.rejectionListeners.clear();
    await this.running;
  }

  /** A file-system event: check once things have been quiet for debounceMs (at most 10 debounce periods after the first event). */
  private schedule(): void {
    if (this.closed) return;
    const now = Date.now();
    this.firstEventAt ??= now;
    const latest = this.firstEventAt + 10 * this.debounceMs;
    clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(
      () => {
        this.debounceTimer = undefined;
        this.firstEventAt = undefined;
        void this.check();
      },
      Math.max(0, Math.min(this.debounceMs, latest - now)),
    );
  }

  /** Runs checks one at a time; a request during a check runs one more afterwards. */
  private check(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.running !== undefined) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          await this.checkOnce();
        } catch (error) {
          // checkOnce handles its own failures; this is a last guard so a reload bug cannot crash the server.
          this.logger.error({ err: error }, 'TLS file check failed');
        }
      } while (this.again && !this.closed);
    })().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async checkOnce(): Promise<void> {
    await this.syncWatchers();
    let texts: TlsFileTexts;
    try {
      texts = await readTlsFiles(this.certFile, this.keyFile, this.clientCaFile);
    } catch (error) {
      // Missing or unreadable (e.g. in the middle of a swap).
      if (!this.closed) this.rejected(undefined, error);
      return;
    }
    if (this.closed) return;
    const snapshot = contentHash(texts.cert, texts.key, texts.clientCa);
    if (snapshot === this.materialHash) {
      this.recovered();
      return;
    }
    if (snapshot === this.rejectedHash) return;

    // The texts just hashed, not a second read: a pair rewritten in place and caught half-way
    // by a second read would be remembered as rejected under the hash of its good content.
    let material: TlsMaterial;
    try {
      material = tlsMaterialFrom({ certFile: this.certFile, keyFile: this.keyFile, clientCaFile: this.clientCaFile }, texts);
    } catch (error) {
      this.rejected(snapshot, error);
      return;
    }
    this.material = material;
    this.materialHash = snapshot;
    this.rejectedHash = undefined;
    this.lastFailure = undefined;
    const description = describeCertificate(material);
    this.logger.info({ certFile: this.certFile, keyFile: this.keyFile, ...description }, 'TLS certificate reloaded');
    if (material.notAfter.getTime() <= Date.now()) {
      this.logger.warn({ certFile: this.certFile, notAfter: description['notAfter'] }, 'the reloaded TLS certificate has expired');
    }
    for (const listener of [...this.listeners]) {
      try {
        listener(material);
      } catch (error) {
        this.logger.error({ err: error }, 'applying the reloaded TLS certificate failed');
      }
    }
  }

  /** The files hold the pair in use again (e.g. a broken write was reverted). */
  private recovered(): void {
    if (this.lastFailure !== undefined) {
      this.logger.info({ certFile: this.certFile, keyFile: this.keyFile }, 'TLS files hold the certificate in use again');
    }
    this.rejectedHash = undefined;
    this.lastFailure = undefined;
  }

  private rejected(snapshot: string | undefined, error: unknown): void {
    const reason =
      error instanceof TlsMaterialError
        ? error.message
        : `unexpected error: ${error instanceof Error ? error.message.replace(/\s+/g, ' ') : String(error)}`;
    this.rejectedHash = snapshot;
    const failure = snapshot ?? `unreadable: ${reason}`;
    const fields = {
      certFile: this.certFile,
      keyFile: this.keyFile,
      reason,
      servingNotAfter: this.material.notAfter.toISOString(),
    };
    if (failure === this.lastFailure) {
      this.logger.debug(fields, 'TLS files still unusable; still serving the previous certificate');
      return;
    }
    this.lastFailure = failure;
    for (const listener of [...this.rejectionListeners]) listener();
    this.logger.error(
      fields,
      'TLS files changed but cannot be used; still serving the previous certificate until a valid pair appears',
    );
  }

  /** Watches the directories of both files and of their symlink targets; drops watches no longer needed. */
  private async syncWatchers(): Promise<void> {
    const wanted = new Set<string>();
    for (const file of [this.certFile, this.keyFile, ...(this.clientCaFile === undefined ? [] : [this.clientCaFile])]) {
      wanted.add(dirname(resolve(file)));
      try {
        wanted.add(dirname(await realpath(file)));
      } catch {
        // Missing right now (e.g. mid-swap): the given directory is watched anyway.
      }
    }
    const inodes = new Map<string, number | undefined>();
    for (const dir of wanted) inodes.set(dir, await stat(dir).then((s) => s.ino, () => undefined));
    if (this.closed) return;
    for (const [dir, { watcher, ino }] of this.watchers) {
      if (!wanted.has(dir) || inodes.get(dir) !== ino) {
        watcher.close();
        this.watchers.delete(dir);
      }
    }
    for (const dir of wanted) {
      const ino = inodes.get(dir);
      if (this.watchers.has(dir) || ino === undefined) continue;
      let watcher: FSWatcher;
      try {
        watcher = watch(dir, { persistent: false }, () => this.schedule());
      } catch (error) {
        if (!this.unwatchable.has(dir)) {
          this.unwatchable.add(dir);
          const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
          this.logger.warn({ directory: dir, code, pollMs: this.pollMs }, 'cannot watch TLS file directory; relying on polling');
        }
        continue;
      }
      this.unwatchable.delete(dir);
      watcher.on('error', () => {
        // The directory went away (e.g. an old ..2024_x data dir): drop the watch; the next check sets up what is needed.
        watcher.close();
        if (this.watchers.get(dir)?.watcher === watcher) this.watchers.delete(dir);
        this.schedule();
      });
      this.watchers.set(dir, { watcher, ino });
    }
  }
}
