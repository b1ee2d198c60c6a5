import { createRequire } from 'node:module';

const packageVersion = (createRequire(import.meta.url)('../package.json') as { version: string }).version;

/** What was built: the package version, or the image's build metadata (Dockerfile build args) where set. */
export interface BuildInfo {
  version: string;
  revision?: string;
  buildDate?: string;
}

export function buildInfo(env: Readonly<Record<string, string | undefined>>): BuildInfo {
  const info: BuildInfo = { version: env['SECRETS_INIT_WEBHOOK_VERSION'] || packageVersion };
  const revision = env['SECRETS_INIT_WEBHOOK_REVISION'];
  const buildDate = env['SECRETS_INIT_WEBHOOK_BUILD_DATE'];
  if (revision) info.revision = revision;
  if (buildDate) info.buildDate = buildDate;
  return info;
}

/** `--version`: `0.1.0`, or `0.1.0 (revision abc, built 2026-…)`. */
export function versionText(info: BuildInfo): string {
  const details = [info.revision ? `revision ${info.revision}` : '', info.buildDate ? `built ${info.buildDate}` : ''].filter((detail) => detail !== '');
  return details.length > 0 ? `${info.version} (${details.join(', ')})` : info.version;
}
