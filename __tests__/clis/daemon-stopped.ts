// Holds the daemon stopped (as a restore does across the move into the store) until killed.
import { withDaemonStopped } from '../../src/store/daemon.js';

export default async function main(argv: string[]): Promise<void> {
  const [stop, start] = argv;
  await withDaemonStopped({ kind: 'commands', stop, start }, async () => {
    console.log('stopped');
    await new Promise(() => setInterval(() => undefined, 1 << 30));
  });
}
