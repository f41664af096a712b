// The one "this input is refused" check of the config tests (store, purge, reap): the parse must
// throw an InputError (not accept the value, not fail some other way), whose message is returned
// for the test to match. Pure: the unit tests use it too.
import { expect } from '@jest/globals';
import { InputError } from '../../src/common/errors.js';

export function inputRefusal(parse: () => unknown, what: unknown): string {
  let err: unknown;
  try {
    parse();
  } catch (e) {
    err = e;
  }
  if (err === undefined) throw new Error(`accepted: ${JSON.stringify(what)}`);
  expect(err).toBeInstanceOf(InputError);
  return (err as Error).message;
}
