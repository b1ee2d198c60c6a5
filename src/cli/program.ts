/**
 * The commander program: used on canonicalised argv (see argv.ts) for the
 * final parse and for help/version output. Everything commander would print is
 * captured into `output`; commander never exits the process or reads the
 * environment here (no `.env()` options, fixed help width, no colours).
 */
import { Command, Help, Option } from 'commander';
import { COMMAND_FLAGS, COMMAND_NAMES, GLOBAL_FLAGS, type CommandName, type FlagSpec } from './flags.js';

export const PROGRAM_NAME = 'secrets-init-webhook';

/** The name help and usage errors show: PROGRAM_NAME, or the name it was run by (the kubectl plugin's). */
let shownName = PROGRAM_NAME;

/** Called before the command line is parsed, by an entry point whose users call it another name. */
export function setShownName(name: string): void {
  shownName = name;
}

export function shownProgramName(): string {
  return shownName;
}

export interface CapturedOutput {
  out: string;
  err: string;
}

const SUMMARY =
  'Kubernetes mutating admission webhook that injects secrets-init into pods whose environment ' +
  'references AWS Secrets Manager, AWS SSM Parameter Store or Google Secret Manager secrets ' +
  '(drop-in replacement for doitintl/kube-secrets-init).';

const COMMAND_SUMMARIES: Readonly<Record<CommandName, string>> = {
  server: 'run the mutating admission webhook server',
  certs:
    'generate a CA and a TLS serving certificate for the webhook Service into --out, and print the base64 CA bundle (for caBundle) on stdout',
  inject:
    'write manifests (-f) with secrets-init injected as the webhook would inject it, for review, GitOps and CI; exit 1 on unresolved references or pods the webhook would deny',
  audit:
    'list the running and pending pods of a cluster whose containers hold secret references but do not run secrets-init; exit 1 when there is any, 2 when a namespace or pod could not be checked',
};

const SYNTAX_NOTE =
  'Flags may be written --flag=value, --flag value, -flag=value or -flag value;\n' +
  'boolean flags also accept --flag=true and --flag=false.';

const GLOBAL_HEADING = 'Global flags (before the command):';

function describe(spec: FlagSpec): string {
  const extra = [`default: ${spec.defaultText ?? 'unset'}`];
  if (spec.env !== undefined) extra.push(`env: ${spec.env}`);
  return `${spec.description} (${extra.join(', ')})`;
}

function addFlags(command: Command, specs: readonly FlagSpec[]): void {
  for (const spec of specs) {
    const short = spec.short === undefined ? '' : `-${spec.short}, `;
    if (spec.kind === 'bool') {
      command.addOption(new Option(`${short}--${spec.name}`, describe(spec)));
      // Target of --name=false after normalisation; not a documented spelling.
      command.addOption(new Option(`--no-${spec.name}`).hideHelp());
      continue;
    }
    const option = new Option(`${short}--${spec.name} <${spec.placeholder ?? 'value'}>`, describe(spec));
    if (spec.kind === 'list') {
      option.argParser((value: string, previous: unknown) => [
        ...(Array.isArray(previous) ? (previous as string[]) : []),
        value,
      ]);
    }
    if (spec.hidden === true) option.hideHelp();
    command.addOption(option);
  }
}

/** Value of a flag by canonical name; undefined when not given on the command line. */
export function readFlag(command: Command, name: string): unknown {
  const option = command.options.find((candidate) => candidate.long === `--${name}`);
  if (option === undefined) throw new Error(`internal: no flag --${name}`);
  return command.getOptionValue(option.attributeName());
}

export function buildProgram(
  version: string,
  output: CapturedOutput,
  onCommand: (name: CommandName, command: Command) => void,
): Command {
  const program = new Command(shownName);
  program
    .description(SUMMARY)
    .usage('[global flags] <command> [command flags]')
    .configureOutput({
      writeOut: (text) => {
        output.out += text;
      },
      writeErr: (text) => {
        output.err += text;
      },
      outputError: (text, write) => write(text),
      getOutHelpWidth: () => 100,
      getErrHelpWidth: () => 100,
      getOutHasColors: () => false,
      getErrHasColors: () => false,
    })
    .exitOverride()
    .enablePositionalOptions()
    .allowExcessArguments(false)
    .configureHelp({
      showGlobalOptions: true,
      subcommandTerm: (command) => (command.name() === 'help' ? 'help [command]' : `${command.name()} [flags]`),
      formatItemList(heading, items, helper) {
        const title = heading === 'Global Options:' ? GLOBAL_HEADING : heading;
        return Help.prototype.formatItemList.call(this, title, items, helper);
      },
    })
    .helpCommand('help [command]', 'show help for a command')
    .optionsGroup(GLOBAL_HEADING);
  addFlags(program, GLOBAL_FLAGS);
  program
    .helpOption('-h, --help', 'show help and exit')
    .version(`${PROGRAM_NAME} ${version}`, '-v, --version', 'print the version and exit');
  program.addHelpText(
    'after',
    [
      '',
      SYNTAX_NOTE,
      '',
      'Example (the kube-secrets-init Deployment arguments):',
      `  ${PROGRAM_NAME} --log-level=debug server \\`,
      '    --tls-cert-file=/etc/webhook/certs/cert.pem --tls-private-key-file=/etc/webhook/certs/key.pem',
      '',
      `Run '${shownName} <command> --help' for the flags of a command.`,
    ].join('\n'),
  );

  for (const name of COMMAND_NAMES) {
    const command = program
      .command(name)
      .description(COMMAND_SUMMARIES[name])
      .usage('[flags]')
      .optionsGroup(`${name} flags:`);
    addFlags(command, COMMAND_FLAGS[name]);
    command.helpOption('-h, --help', 'show help and exit');
    command.addHelpText('after', `\n${SYNTAX_NOTE}`);
    command.action((_options: unknown, invoked: Command) => {
      onCommand(name, invoked);
    });
  }
  return program;
}
