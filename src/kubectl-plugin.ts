#!/usr/bin/env node
// `kubectl secrets-init …`: kubectl runs an executable named kubectl-secrets_init found on
// PATH with the arguments after the plugin name; they are this program's own. Help and usage
// errors name it as its users type it.
import { setShownName } from './cli/program.js';

setShownName('kubectl secrets-init');
await import('./main.js');
