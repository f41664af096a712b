// ESM + ts-jest: @actions/core 3 and @actions/cache 6 ship only ESM.
//
// Three layers, as jest projects (`npm run test:unit` / `test:host` / `test:e2e`; `npm test`
// runs all three):
// - unit: pure code in-process, no child process, no root, no network: __tests__/unit/.
// - e2e:  the built dist/ out of process (FakeJob, tools/local-runner.mjs): the files in E2E.
// - host: everything else: real fs, locks, tar, processes, in-process or through test CLIs.
// A new test file lands in `host` unless it is put in __tests__/unit/ or listed in E2E;
// __tests__/unit/layers.test.ts fails when a file that drives dist/ is not listed in E2E.
const common = {
  testEnvironment: 'node',
  // Slots at once: SYSTEM files one at a time in a slot that then takes other files (see the runner).
  runner: '<rootDir>/__tests__/helpers/lanes-runner.mjs',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }] }
};

export const E2E = [
  'bad-inputs',
  'cancel',
  'chaos',
  'containers',
  'daemon-marker',
  'dirs',
  'docs',
  'first-hour',
  'fleet',
  'host-paths',
  'janitor-action',
  'liveness',
  'mount-sources',
  'pr-dirs',
  'purge',
  'reclaim',
  'store-action',
  'store-attacker-dist',
  'store-attacker-lanes',
  'store-delta',
  'store-faults',
  'store-gc',
  'store-hostile-dist',
  'store-lifecycle',
  'store-malicious',
  'store-nix-action',
  'store-shared-tree',
  'store-signed',
  'store-subactions'
];

// Files that change what the whole host shares (the real /nix/store and a nix-daemon, dockerd's
// containers, root's records in /run/runbox): they opt in with systemOptIn (helpers/prereq.ts),
// and helpers/lanes-runner.mjs runs them one after another, beside the other files but never
// beside each other. __tests__/unit/layers.test.ts checks that the two lists agree.
export const SYSTEM = ['containers', 'daemon-marker', 'mount-sources', 'restore-lock', 'store-gc', 'store-mounts', 'store-nix', 'store-nix-action'];

const e2eFiles = E2E.map((n) => `<rootDir>/__tests__/${n}.test.ts`);

export default {
  // A budget, not a speed check: files run side by side, on machines that may be loaded.
  testTimeout: 300000,
  verbose: true,
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/__tests__/unit/**/*.test.ts'] },
    {
      ...common,
      displayName: 'host',
      testMatch: ['<rootDir>/__tests__/*.test.ts'],
      testPathIgnorePatterns: ['/node_modules/', ...E2E.map((n) => `/__tests__/${n}\\.test\\.ts$`)],
      // Test CLIs (__tests__/clis/) are bundled once per run, not once per test file.
      globalSetup: '<rootDir>/__tests__/helpers/global-setup.mjs',
      globalTeardown: '<rootDir>/__tests__/helpers/global-teardown.mjs'
    },
    {
      ...common,
      displayName: 'e2e',
      testMatch: e2eFiles,
      globalSetup: '<rootDir>/__tests__/helpers/global-setup.mjs',
      globalTeardown: '<rootDir>/__tests__/helpers/global-teardown.mjs'
    }
  ]
};
