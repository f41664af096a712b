// Every input is read through an InputSource, once, in one place per capability, so parsing
// and validation can be tested without an Actions runtime.
import * as core from '@actions/core';
import { InputError } from '../common/errors.js';

export interface InputSource {
  /** Trimmed value; '' when unset. */
  value(name: string): string;
  /** Non-empty trimmed lines; '#' starts a comment line. */
  lines(name: string): string[];
}

export function splitLines(raw: string): string[] {
  return raw
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

export const actionInputs: InputSource = {
  value: (name) => core.getInput(name).trim(),
  lines: (name) => splitLines(core.getInput(name))
};

export function inputsFrom(values: Record<string, string>): InputSource {
  return {
    value: (name) => (values[name] ?? '').trim(),
    lines: (name) => splitLines(values[name] ?? '')
  };
}

export function parseBoolean(src: InputSource, name: string, fallback: boolean): boolean {
  const v = src.value(name).toLowerCase();
  if (v === '') return fallback;
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new InputError(name, `'${src.value(name)}' is not a boolean`, "Write 'true' or 'false'");
}
