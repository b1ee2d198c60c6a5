/**
 * A TLS connection driven by hand, for tests that need what an HTTP client hides: pipelined
 * requests, bodies that stop half way, callers that go away. Everything received is kept as
 * latin1 text.
 */
import { connect } from 'node:tls';
import type { TLSSocket } from 'node:tls';

export interface RawConnection {
  socket: TLSSocket;
  /** Everything received so far. */
  received(): string;
  /** Writes a POST of `body` (JSON) to `path` with its Content-Length, or with `declaredLength` and only `body` sent. */
  post(body: string, options?: { path?: string; declaredLength?: number }): void;
}

/** Connects to 127.0.0.1:`port` (certificate for `localhost`, verified with `ca`); the socket is destroyed at `t`'s teardown. */
export async function rawConnection(t: { teardown(fn: () => unknown): void }, port: number, ca: string): Promise<RawConnection> {
  const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' });
  t.teardown(() => socket.destroy());
  socket.on('error', () => undefined);
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  await new Promise((resolve) => socket.once('secureConnect', resolve));
  return {
    socket,
    received: () => received,
    post(body, options = {}) {
      const length = options.declaredLength ?? Buffer.byteLength(body);
      socket.write(`POST ${options.path ?? '/pods'} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n${body}`);
    },
  };
}
