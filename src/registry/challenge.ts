/** One challenge of a `WWW-Authenticate` header (RFC 7235): a scheme and its auth-params. */
export interface Challenge {
  /** Lowercase, e.g. `basic`, `bearer`. */
  scheme: string;
  /** Lowercase parameter names, unquoted values. */
  params: Record<string, string>;
}

const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

/**
 * Parses a `WWW-Authenticate` value, which may hold several challenges
 * (`Bearer realm="https://auth",service="reg",scope="repository:a:pull", Basic realm="x"`).
 * Unparseable trailing text is ignored; the result may be empty.
 */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  const values = Array.isArray(header) ? header : [header];
  const challenges: Challenge[] = [];
  for (const value of values) challenges.push(...parseOne(value.slice(0, 8192)));
  return challenges;
}

function parseOne(text: string): Challenge[] {
  const challenges: Challenge[] = [];
  let i = 0;
  const skip = (chars: RegExp): void => {
    while (i < text.length && chars.test(text.charAt(i))) i++;
  };
  const token = (): string => {
    const start = i;
    while (i < text.length && TOKEN_CHAR.test(text.charAt(i))) i++;
    return text.slice(start, i);
  };
  let current: Challenge | undefined;
  while (i < text.length) {
    skip(/[\s,]/);
    const start = i;
    const name = token();
    if (name === '') break;
    skip(/[ \t]/);
    if (text.charAt(i) === '=' && current !== undefined) {
      i++;
      skip(/[ \t]/);
      let value: string;
      if (text.charAt(i) === '"') {
        i++;
        value = '';
        while (i < text.length && text.charAt(i) !== '"') {
          if (text.charAt(i) === '\\' && i + 1 < text.length) i++;
          value += text.charAt(i);
          i++;
        }
        i++;
      } else {
        value = token();
      }
      current.params[name.toLowerCase()] = value;
      continue;
    }
    if (text.charAt(i) === '=') {
      // A parameter before any scheme: malformed, stop.
      i = start;
      break;
    }
    current = { scheme: name.toLowerCase(), params: {} };
    challenges.push(current);
  }
  return challenges;
}
