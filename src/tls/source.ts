import type { TlsMaterial } from './material.js';

/**
 * Where the serving certificate comes from: files that may be rotated (cert-manager,
 * kubelet secret refresh) or a certificate the webhook makes and renews itself. The
 * server takes `current()` at start and swaps its secure context on every change, so
 * new connections get the new certificate without a restart.
 */
export interface TlsSource {
  current(): TlsMaterial;
  /** Called with each new, already validated, pair. Returns an unsubscribe function. */
  onChange(listener: (material: TlsMaterial) => void): () => void;
  /** Called when a new certificate was refused (the previous one stays in use), where the source can tell. */
  onRejected?(listener: () => void): () => void;
  /** Stops watching or renewing. */
  close(): Promise<void>;
}
