// jest's runner, in two lanes that run at the same time: the files in SYSTEM (jest.config.js)
// one after another in a worker of their own, every other file in the usual pool of
// --maxWorkers workers. The SYSTEM files change what the whole host shares (the real /nix/store
// and a nix-daemon, dockerd's containers, root's records in /run/runbox under fixed names), so
// two of them must never run at once; every other file keeps to its own temp dirs, ports and
// processes, so it may run beside anything. Most test time is waiting (timeouts, child
// processes, polls), not computing, which is why lanes beside each other shorten a run even on 2
// cores. Under --runInBand (or one worker) everything runs in band as before, in jest's order.
import TestRunner from 'jest-runner';
import path from 'node:path';
import { SYSTEM } from '../../jest.config.js';

const system = new Set(SYSTEM.map((n) => `${n}.test.ts`));
export const isSystemTest = (testPath) => path.dirname(testPath).endsWith('__tests__') && system.has(path.basename(testPath));

export default class LanesRunner {
  supportsEventEmitters = true;
  isSerial = false;

  constructor(globalConfig, context) {
    this.pool = new TestRunner(globalConfig, context);
    this.lane = new TestRunner({ ...globalConfig, maxWorkers: 1 }, context);
  }

  async runTests(tests, watcher, options) {
    if (options.serial) return this.pool.runTests(tests, watcher, options);
    const sys = tests.filter((t) => isSystemTest(t.path));
    const rest = tests.filter((t) => !isSystemTest(t.path));
    await Promise.all([sys.length > 0 ? this.lane.runTests(sys, watcher, options) : undefined, rest.length > 0 ? this.pool.runTests(rest, watcher, options) : undefined]);
  }

  on(eventName, listener) {
    const offs = [this.pool.on(eventName, listener), this.lane.on(eventName, listener)];
    return () => offs.forEach((off) => off());
  }
}
