import type { AuditOptions } from '../cli/parse.js'; import type { CommandIo, ExitCode } from './inject.js';
export async function runAudit(_options: AuditOptions, io: CommandIo): Promise<ExitCode> { io.stderr.write('not yet\n'); return 2; }
