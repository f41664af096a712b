// Removes what global-setup.mjs bundled, once (both projects name this teardown).
import fs from 'node:fs';

export default function globalTeardown() {
  const dir = process.env.RUNBOX_TEST_CLIS;
  if (!dir) return;
  fs.rmSync(dir, { recursive: true, force: true });
  delete process.env.RUNBOX_TEST_CLIS;
}
