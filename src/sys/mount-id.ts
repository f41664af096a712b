// Which mount a dir is on, by the kernel's mount ID: st_dev tells filesystems apart, not mounts
// (a bind mount of a dir of the same filesystem has its st_dev), and a rename between two mounts
// fails with EXDEV even on one filesystem (mv then copies). The dir is opened itself, no other
// mount point is looked up or stat'ed (a hung FUSE or NFS mount elsewhere cannot hang this).
import fs from 'node:fs';

/**
 * O_PATH (Linux x86_64 and arm64, the generic value): the dir needs no read permission and is
 * not read, only named; node's fs.constants lacks it.
 */
const O_PATH = 0o10000000;

/** The ID of the mount `dir` is on (the last component is not followed: a symlink fails with ELOOP / ENOTDIR). */
export function mountIdOf(dir: string): number {
  const fd = fs.openSync(dir, O_PATH | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
  try {
    const m = /^mnt_id:\s*(\d+)$/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
    if (!m) throw new Error(`/proc/self/fdinfo/${fd} (${dir}) has no mnt_id line: is /proc mounted?`);
    return Number(m[1]);
  } finally {
    fs.closeSync(fd);
  }
}
