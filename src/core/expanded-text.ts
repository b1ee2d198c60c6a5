import type { Provider } from './provider.js';
import { scanExpansion } from './kubelet-expansion.js';
import { LONGEST_REFERENCE_START, SSM_PARAMETER, referenceStart } from './secret-reference.js';

/**
 * An environment variable's value as the kubelet expands it, reduced to what deciding
 * whether it is a reference needs: its start, and whether it contains `:parameter/`. The
 * reduction keeps the work bounded whatever the expansion's length (values that expand
 * other values twice over double at each step), and it holds parts whose text the pod
 * does not give (values from Secrets, ConfigMaps or field references) as UNKNOWN_CHAR,
 * a character no reference is made of.
 */
export interface ExpandedText {
  /** Its first characters, as many as decide whether a value starts like a reference. */
  readonly start: string;
  /** Its last characters, at most OVERLAP of them: enough to find `:parameter/` across a join. */
  readonly end: string;
  /** `:parameter/` stands in its known text. */
  readonly parameter: boolean;
}

const START_LENGTH = LONGEST_REFERENCE_START;
const OVERLAP = SSM_PARAMETER.length - 1;
const UNKNOWN_CHAR = '\u0000';

/** A value the pod spec does not give. Nothing it could hold is taken to make a reference. */
export const UNKNOWN_TEXT: ExpandedText = Object.freeze({ start: UNKNOWN_CHAR, end: UNKNOWN_CHAR, parameter: false });

export function literalText(text: string): ExpandedText {
  return { start: text.slice(0, START_LENGTH), end: text.slice(-OVERLAP), parameter: text.includes(SSM_PARAMETER) };
}

const EMPTY_TEXT = literalText('');

/** `a` followed by `b`. */
export function joinTexts(a: ExpandedText, b: ExpandedText): ExpandedText {
  if (a === EMPTY_TEXT) return b;
  return {
    // When `a` is as long as START_LENGTH, its start is all of the result's.
    start: a.start.length < START_LENGTH ? (a.start + b.start).slice(0, START_LENGTH) : a.start,
    end: (a.end + b.end).slice(-OVERLAP),
    parameter: a.parameter || b.parameter || (a.end + b.start.slice(0, OVERLAP)).includes(SSM_PARAMETER),
  };
}

/**
 * `value` as the kubelet expands it, with `defined` giving the (expanded) value of each
 * variable defined before it; `$(NAME)` of any other name stays as written.
 */
export function expandText(value: string, defined: (name: string) => ExpandedText | undefined): ExpandedText {
  let result = EMPTY_TEXT;
  scanExpansion(
    value,
    (text) => {
      result = joinTexts(result, literalText(text));
    },
    (name) => {
      result = joinTexts(result, defined(name) ?? literalText(`$(${name})`));
    },
  );
  return result;
}

/** Which provider resolves the expanded value; undefined when it is not a reference, or may not be one. */
export function textReference(text: ExpandedText): Provider | undefined {
  const kind = referenceStart(text.start);
  if (kind === 'ssm') return text.parameter ? 'aws' : undefined;
  return kind;
}
