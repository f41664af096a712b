// jest's runner, in slots that run at the same time: --maxWorkers slots for ordinary files, and
// one more slot that runs the files in SYSTEM (jest.config.js) one after another and then takes
// ordinary files like the others. The SYSTEM files change what the whole host shares (the real
// /nix/store and a nix-daemon, dockerd's containers, root's records in /run/runbox under fixed
// names), so two of them must never run at once; every other file keeps to its own temp dirs,
// ports and processes, so it may run beside anything. Most test time is waiting (timeouts, child
// processes, polls), not computing, which is why slots beside each other shorten a run even on 2
// cores.
//
// Why one shared queue rather than two fixed lanes: the SYSTEM files add up to about half of
// what the ordinary files take per worker, so a lane of their own sat idle for the second half
// of a run (about 370 s of 850 in CI) while the pool still had files queued. Each slot is a
// jest-runner of one worker, handed one file at a time from the queue (jest's order: the slowest
// first once jest has timings, failed ones first); the cost is a worker process per file.
// A run without SYSTEM files (the unit or e2e project alone) uses the usual pool, without the
// extra slot or a worker per file. Under --runInBand everything runs in band, in jest's order.
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
    const oneWorker = { ...globalConfig, maxWorkers: 1 };
    this.slots = Array.from({ length: Math.max(1, globalConfig.maxWorkers) + 1 }, () => new TestRunner(oneWorker, context));
  }

  async runTests(tests, watcher, options) {
    const sys = tests.filter((t) => isSystemTest(t.path));
    if (options.serial || sys.length === 0) return this.pool.runTests(tests, watcher, options);
    const rest = tests.filter((t) => !isSystemTest(t.path));
    const drain = async (slot, own) => {
      for (let next = own.shift() ?? rest.shift(); next !== undefined && !watcher.isInterrupted(); next = own.shift() ?? rest.shift()) {
        await slot.runTests([next], watcher, options);
      }
    };
    await Promise.all(this.slots.map((slot, i) => drain(slot, i === 0 ? sys : [])));
  }

  on(eventName, listener) {
    const offs = [this.pool, ...this.slots].map((r) => r.on(eventName, listener));
    return () => offs.forEach((off) => off());
  }
}
