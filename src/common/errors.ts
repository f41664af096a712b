/** A user mistake in an input: the message names the input and what to write instead. */
export class InputError extends Error {
  constructor(
    readonly input: string,
    problem: string,
    fix: string
  ) {
    super(`Input '${input}': ${problem}. ${fix}`);
    this.name = 'InputError';
  }
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
