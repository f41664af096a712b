// Every input is read through an InputSource, once, in one place per capability, so parsing
// and validation can be tested without an Actions runtime.
import * as core from '@actions/core';
import { InputError } from '../common/errors.js';

export interface InputSource {
  /** Trimmed value; '' when unset. */
  value(name: string): string;
  /** Non-empty trimmed lines; '#' at the start or after whitespace starts a comment. */
  lines(name: string): string[];
  /**
   * Whether the input was passed at all. The runner passes an input's action.yml default when the
   * workflow leaves it out, so an input with a declared default that arrives empty was written
   * in the workflow as an expression that expanded to nothing (`${{ env.X }}` with X unset).
   */
  given?(name: string): boolean;
}

/** The variable the runner passes an input in: spaces become `_`, then upper case. */
export function inputEnvName(name: string): string {
  return `INPUT_${name.replace(/ /g, '_').toUpperCase()}`;
}

export function splitLines(raw: string): string[] {
  return (
    raw
      .split(/\r?\n/)
      // A '#' after whitespace starts a comment, as in YAML: inside a `|` block YAML itself keeps
      // a trailing `# ...` as part of the value, and writing one there is the natural thing to do.
      .map((l) => l.replace(/(^|\s)#.*$/, '').trim())
      .filter((l) => l !== '' && !l.startsWith('#'))
  );
}

export const actionInputs: InputSource = {
  value: (name) => core.getInput(name).trim(),
  lines: (name) => splitLines(core.getInput(name)),
  given: (name) => process.env[inputEnvName(name)] !== undefined
};

export function inputsFrom(values: Record<string, string>): InputSource {
  return {
    value: (name) => (values[name] ?? '').trim(),
    lines: (name) => splitLines(values[name] ?? ''),
    given: (name) => name in values
  };
}

export function parseBoolean(src: InputSource, name: string, fallback: boolean): boolean {
  const v = src.value(name).toLowerCase();
  if (v === '') return fallback;
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new InputError(name, `'${src.value(name)}' is not a boolean`, "Write 'true' or 'false'");
}
