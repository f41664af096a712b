export function daemonSchema(kind: 'guix' | 'nix'): string;
export const GUIX_DAEMON_STATEMENTS: readonly string[];
