/** Runs `inject` in this process as the command line would (parsed argv), without a cluster. */
import { parseCommandLine } from '../../src/cli/parse.js';
import { runInject } from '../../src/commands/inject.js';

export async function runInjectCli(args: string[], stdin: string | Uint8Array = '', env: Record<string, string> = { HOME: '/nonexistent-home' }): Promise<{ code: number; stdout: string; stderr: string }> {
  const parsed = parseCommandLine(['inject', ...args], {}, 'test');
  if (parsed.kind === 'exit') return { code: parsed.code, stdout: parsed.stdout, stderr: parsed.stderr };
  if (parsed.kind !== 'inject') throw new Error(`parsed as ${parsed.kind}`);
  let stdout = '';
  let stderr = '';
  const code = await runInject(parsed.inject, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    readStdin: async () => stdin,
    // No cluster: HOME without a kubeconfig, no KUBECONFIG, not in a pod.
    env,
  });
  return { code, stdout, stderr };
}
