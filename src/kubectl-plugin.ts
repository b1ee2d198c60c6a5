#!/usr/bin/env node
// `kubectl secrets-init …`: kubectl runs an executable named kubectl-secrets_init found on
// PATH with the arguments after the plugin name; they are this program's own.
import './main.js';
