/**
 * Keep-alive connections to the API server. client-node builds a new https.Agent for
 * every request (from the kubeconfig's CA, client certificate and server name), so every
 * read opened a new TLS connection. This pool hands out one keep-alive agent per distinct
 * set of those TLS settings instead: reads reuse connections and TLS sessions. Settings
 * change only when credentials rotate (a new client certificate): a new agent is made,
 * and the oldest agents beyond a few are closed.
 */
import { createHash } from 'node:crypto';
import { Agent as HttpsAgent } from 'node:https';
import type { AgentOptions } from 'node:https';

const MAX_AGENTS = 4;
/**
 * Reads sent at once. A read waiting for a free connection spends its --lookup-timeout
 * waiting: with 16, a burst of 120 reads (pods of many workloads, each its own Secret) of an
 * API server answering in 400 ms had a third of them time out without having been sent. client-go
 * multiplexes up to ~250 requests on one HTTP/2 connection; this client speaks HTTP/1.1, one
 * request per connection (idle ones are closed after 60 s).
 */
const MAX_SOCKETS = 256;

export interface AgentPool {
  /** The pooled agent for the settings of `agent` (client-node's per-request one); other kinds of agent (proxies) as they are. */
  reuse(agent: unknown): unknown;
  /** Closes every pooled connection. */
  close(): void;
}

export function createAgentPool(): AgentPool {
  const agents = new Map<string, HttpsAgent>();
  return {
    reuse(agent: unknown): unknown {
      if (!(agent instanceof HttpsAgent) || agent.constructor !== HttpsAgent) return agent;
      const options = (agent as HttpsAgent & { options: AgentOptions }).options;
      const key = settingsKey(options);
      let pooled = agents.get(key);
      if (pooled === undefined) {
        pooled = new HttpsAgent({ ...tlsSettings(options), keepAlive: true, maxSockets: MAX_SOCKETS, timeout: 60_000 });
        agents.set(key, pooled);
        while (agents.size > MAX_AGENTS) {
          const [oldestKey, oldest] = agents.entries().next().value as [string, HttpsAgent];
          agents.delete(oldestKey);
          oldest.destroy();
        }
      }
      return pooled;
    },
    close(): void {
      for (const agent of agents.values()) agent.destroy();
      agents.clear();
    },
  };
}

function tlsSettings(options: AgentOptions): AgentOptions {
  const settings: AgentOptions = {};
  for (const name of ['ca', 'cert', 'key', 'pfx', 'passphrase', 'servername', 'rejectUnauthorized'] as const) {
    if (options[name] !== undefined) (settings as Record<string, unknown>)[name] = options[name];
  }
  return settings;
}

/** A hash of the TLS settings (key material included, never stored as such). */
function settingsKey(options: AgentOptions): string {
  const hash = createHash('sha256');
  const settings = tlsSettings(options);
  for (const [name, value] of Object.entries(settings)) {
    hash.update(name);
    hash.update('\0');
    const parts = Array.isArray(value) ? value : [value];
    for (const part of parts) hash.update(Buffer.isBuffer(part) ? part : String(part));
    hash.update('\0');
  }
  return hash.digest('hex');
}
