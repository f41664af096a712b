// The kernel's confinement of a command that writes untrusted data (the `tar -x` of a restore):
// it runs as CONFINED_IDS, an identity that owns nothing on the host, in namespaces of its own
// where nothing but its dir can be written. What it may still do wrong inside that dir is
// checked afterwards by the caller (store/private-extract.ts verifyLanded).
//
// How (confinedCommand's argv; root runs it, through exec.ts `privileged`):
// - `unshare --mount --pid --ipc --net --uts --fork --kill-child=SIGKILL --mount-proc`: a mount namespace
//   (per-mount changes that the host never sees: propagation private, unshare's default), a pid
//   namespace whose init the command is (when it exits the kernel kills every process left in
//   it: nothing of the confined uid outlives it, so nothing can change the dir after the caller
//   walked it), with a /proc of its own (the other confined commands, running as the same uid
//   for the other archives, are not in it: their dirs cannot be reached through /proc/<pid>/cwd),
//   an IPC namespace (no POSIX queue or SysV object shared with the host), a network namespace
//   (no interface but a down loopback: no socket to a host service, a metadata endpoint or an
//   abstract unix socket of the host) and a UTS namespace. A unix socket bound to a PATH is not
//   the network namespace's: connect(2) finds it by path, across namespaces, and a read-only
//   mount does not stop it. Over one (a local user's 0777 /tmp/x.sock) a taken-over tar could
//   pass out (SCM_RIGHTS) a read-write fd of a file in its dir, still open after the file is
//   given to root and renamed into the store. Hence the root below, which holds no such path.
// - In it, as root: a minimal root for the command is built (ROOT): a fresh tmpfs holding
//   non-recursive read-only bind mounts of /usr (/bin, /lib64, ... as on the host: symlinks into
//   it on a merged /usr), /etc/ld.so.cache, /dev/null and the namespace's own /proc (glibc's
//   fchmodat goes through /proc/self/fd), and the dir bound at /extract (a mount of its own,
//   left writable). No /tmp, /var, /run, /home, /dev/shm or the rest of /dev and /etc: an
//   allowlist, so no dir where a local user can bind a socket (unless one can write under /usr).
//   Then the host's mounts leave the namespace: `pivot_root` into that root and a lazy unmount
//   (MNT_DETACH) of the old one, with every mount under it, in this namespace only: a second
//   wall, should a path outside the root be reached after all, since there is no outside left.
//   Where pivot_root is refused (a host whose root is no mount point of its own: an initramfs
//   root, a runner in a chroot), every writable mount is remounted read-only instead
//   (MS_REMOUNT|MS_BIND: per mount, in this namespace only; the filesystems stay writable for
//   the host), the namespace's own /proc and the kernel's pseudo filesystems too. Either way that
//   covers what the uid could otherwise write on any host: /tmp, /var/tmp, /dev/shm, /run/lock
//   and every other world-writable dir or file. A hard link into the dir from elsewhere fails
//   too (link(2) across two mounts is EXDEV), so nothing outside can be handed to root's chown
//   afterwards. The remounts go by path, and a path can change under them (a local user renaming
//   a dir above a mount point), so what landed is checked, not assumed, on both ways:
//   /proc/self/mountinfo is read again and the command does not start unless every mount a path
//   can reach, but the dir's bind in the root, is read-only (WRITABLE_MOUNTS_AWK), the new
//   root's own mounts included.
// - `chroot` into that root (root's CAP_SYS_CHROOT; the command, which has none, cannot leave
//   it; after a pivot it is the root already), `env -C /extract` (its working dir; after a
//   pivot, the shell's own cd), then
//   `setpriv --reuid --regid --clear-groups --no-new-privs --inh-caps=-all --bounding-set=-all`:
//   no capability, no supplementary group, no way back to root through a setuid binary. As
//   that uid, tar cannot create a device node, a file owned by anyone else or a setuid-root
//   file at all. `--pdeathsig=SIGKILL` again, because the kernel clears --kill-child's
//   parent-death signal when the uid changes.
// A host where unshare is refused (a container without CAP_SYS_ADMIN) fails the restore, with
// unshare's message: there is no unconfined fallback.
//
// Signals: unshare's parent blocks SIGTERM while it waits (util-linux), and the command, being
// its namespace's init, ignores SIGTERM from outside. So a supervising shell runs unshare in the
// background and turns SIGTERM/SIGINT/SIGHUP (a cancel: exec.stopChildren, relayed by sudo) into
// SIGKILL of unshare, which --kill-child turns into SIGKILL of the namespace.
import { run } from './exec.js';
import type { Ids } from './users.js';

/**
 * Who the confined command runs as. A fixed id, not `nobody` (65534): files on NFS with
 * root_squash are nobody's, and daemons run as nobody on many hosts; any process of the same uid
 * could reach the command (signals, ptrace, /proc/<pid>/cwd into its dir). No user or group of
 * the host may have it (checked: checkConfinedIds); it is below 2^31 (tools that take uids as
 * signed ints) and outside the ranges systemd and container runtimes hand out (system and
 * regular users, DynamicUser, 524288-1879048191 for containers, the 0x7FFE0000 foreign range).
 * Its dir lies inside the restore's private dir, root's and 0700: no other process of this uid
 * could reach it by path even if one existed.
 */
export const CONFINED_IDS: Readonly<Ids> = Object.freeze({ uid: 2_147_000_000, gid: 2_147_000_000 });

/**
 * Identities for writers that must not reach each other's files: a restore's entries (a delta
 * and its base, which different jobs may have written) each extract as their own slot, so even
 * a taken-over tar of one owns none of the other's files. Slot 0 is CONFINED_IDS.
 */
export const CONFINED_SLOTS = 2;

export function confinedIds(slot: number): Readonly<Ids> {
  if (!Number.isInteger(slot) || slot < 0 || slot >= CONFINED_SLOTS) throw new RangeError(`confined id slot ${slot}: there are ${CONFINED_SLOTS}`);
  return { uid: CONFINED_IDS.uid + slot, gid: CONFINED_IDS.gid + slot };
}

/**
 * awk over mountinfo: the mount points of the mounts still writable that a path can reach, but
 * the extraction dir's own (ENVIRON RUNBOX_DIR). Reachable: resolving the mount point from the
 * root mount (each step the first mount crossed, then the topmost one stacked there) ends on
 * that mount. A mount covered by another (the host's /proc under the namespace's own, a tmpfs
 * mounted twice on /dev/shm) is reached by no path, so it may stay as it is. Only mountinfo's
 * text is read: no mount point is looked up or stat'ed (a hung FUSE or NFS mount would hang
 * that), and a path renamed meanwhile changes nothing (the kernel's view is checked, not the
 * paths the remounts were given). Paths are compared in mountinfo's escaped form.
 */
export const WRITABLE_MOUNTS_AWK = String.raw`
function esc(s,   o, i, c) {
  o = ""
  for (i = 1; i <= length(s); i++) {
    c = substr(s, i, 1)
    if (c == "\\") o = o "\\134"; else if (c == " ") o = o "\\040"; else if (c == "\t") o = o "\\011"; else if (c == "\n") o = o "\\012"; else o = o c
  }
  return o
}
function top(c) { while (c in above) c = above[c]; return c }
function under(p, m) { return m == "/" || p == m || substr(p, 1, length(m) + 1) == m "/" }
function resolve(p,   c, b, k, id) {
  c = top(root)
  for (;;) {
    b = ""
    for (k = 1; k <= n; k++) {
      id = ids[k]
      if (par[id] == c && id != c && mp[id] != mp[c] && under(p, mp[id]) && (b == "" || length(mp[id]) < length(mp[b]))) b = id
    }
    if (b == "") return c
    c = top(b)
  }
}
NF >= 6 { ids[++n] = $1; par[$1] = $2; mp[$1] = $5; rw[$1] = ($6 ~ /^rw(,|$)/) }
END {
  dir = esc(ENVIRON["RUNBOX_DIR"])
  root = ""
  for (k = 1; k <= n; k++) {
    id = ids[k]
    p = par[id]
    if ((p in mp) && p != id && mp[p] == mp[id]) above[p] = id
    if (mp[id] == "/" && (!(p in mp) || p == id)) root = id
  }
  if (root == "") { print "(no root mount in mountinfo)"; exit }
  for (k = 1; k <= n; k++) {
    id = ids[k]
    if (rw[id] && mp[id] != dir && resolve(mp[id]) == id) print mp[id]
  }
}`;
if (WRITABLE_MOUNTS_AWK.includes("'")) throw new Error('WRITABLE_MOUNTS_AWK is put between single quotes');

/**
 * Where the command's root is built, in the namespace: a tmpfs stacked on /sys, a root-owned path
 * every Linux host has, that no store (no extraction dir) can lie under and that nothing in the
 * namespace reads afterwards. The host's /sys is untouched (the mount is the namespace's); in the
 * namespace, the mounts under it (cgroups, debugfs, ...) are covered, so no path reaches them and
 * they need no remount each: that pays for the root's own mounts.
 */
const ROOT = '/sys';
/** The extraction dir, as the command sees it (its working dir). */
const ROOT_DIR = '/extract';

/**
 * Builds the command's root (see the top), pivots into it and detaches the host's mounts (else
 * remounts every writable mount but the dir read-only), checks that every mount a path reaches
 * is, then chroots and becomes the confined uid.
 */
const INNER = `set -eu
dir=$1 uid=$2 gid=$3
shift 3
root=${ROOT}
mount -c -t tmpfs -o mode=0755,size=64k,nr_inodes=64,nosuid,nodev,noexec runbox-confined-root "$root"
mkdir -- "$root/usr" "$root/etc" "$root/proc" "$root/dev" "$root${ROOT_DIR}" "$root/.old"
# Non-recursive: no mount stacked under the source (a runner's tmpfs, a FUSE mount) comes along.
# One mount(8) does the bind and then the read-only remount (util-linux >= 2.27; an older one
# leaves the bind writable, which the remounts and the check below then see to).
ro() {
  mount -c --bind -o "ro,$3" -- "$1" "$2"
}
ro /usr "$root/usr" nosuid,nodev
# Merged /usr: /bin, /lib64, ... are symlinks into it (copied as symlinks, by one cp); else dirs
# of their own. In a function: its own positional parameters collect the links.
top_dirs() {
  set --
  for d in bin sbin lib lib32 lib64 libx32; do
    if [ -L "/$d" ]; then
      set -- "$@" "/$d"
    elif [ -d "/$d" ]; then
      mkdir -- "$root/$d"
      ro "/$d" "$root/$d" nosuid,nodev
    fi
  done
  [ $# -eq 0 ] || cp -P -- "$@" "$root/"
}
top_dirs
# Of /etc, only the dynamic linker's cache (a library in a dir of ld.so.conf.d is found through it).
if [ -f /etc/ld.so.cache ]; then
  : >"$root/etc/ld.so.cache"
  ro /etc/ld.so.cache "$root/etc/ld.so.cache" nosuid,nodev,noexec
fi
: >"$root/dev/null"
ro /dev/null "$root/dev/null" nosuid,noexec
# The namespace's own /proc (its pid namespace's processes only): glibc's fchmodat, which tar
# uses to set a dir's mode, goes through /proc/self/fd.
ro /proc "$root/proc" nosuid,nodev,noexec
mount -c --bind -- "$dir" "$root${ROOT_DIR}"
mount -c -o remount,bind,ro,nosuid,nodev,noexec -- "$root"
# awk by its real path: after the pivot below, /etc/alternatives (Debian's awk link) is gone.
awk=$(readlink -f -- "$(command -v awk)")
# The host's mounts leave the namespace: pivot_root into the new root, then a lazy unmount of the
# old one takes every host mount with it (MNT_DETACH, in this namespace only). Two mount(2)s,
# where remounting each writable host mount read-only costs one mount(8) each (20-30 on a
# runner host with cgroups and Docker, every lane of every restore: the most of the confined
# tar's start, BENCHMARKS.md), and nothing of the host's tree is left in the namespace to reach.
# pivot_root is refused where the host's root is no mount point of its own (an initramfs root,
# a runner in a chroot): there, every writable mount is remounted read-only instead.
if cd -- "$root" && pivot_root . .old 2>/dev/null; then
  umount -c -l -- /.old
  root=/
else
  # The same list as the check below: only mounts a path reaches (a covered one cannot be remounted by path).
  mounts=$(RUNBOX_DIR=$root${ROOT_DIR} "$awk" '${WRITABLE_MOUNTS_AWK}' /proc/self/mountinfo)
  printf '%s\\n' "$mounts" | while IFS= read -r mp; do
    # The X keeps a trailing newline (\\012) that $(...) would drop: another path, never remounted.
    case $mp in *\\\\*) mp=$(printf '%bX' "$(printf '%s' "$mp" | sed 's/\\\\\\([0-7][0-7][0-7]\\)/\\\\0\\1/g')"); mp=\${mp%X} ;; esac
    [ "$mp" = "$root${ROOT_DIR}" ] && continue
    # -c: only mount(2), no stat of the mount point (a hung FUSE/NFS mount would hang it). A
    # remount that fails (the path renamed meanwhile, a mount covered by another) is judged below.
    mount -c -o remount,bind,ro -- "$mp" 2>/dev/null || :
  done
fi
# From here on the dir is its bind in the root: the only mount left writable, whichever way
# the host's mounts were dealt with; mountinfo (the kernel's view, not the paths used) says so.
dir=\${root%/}${ROOT_DIR}
left=$(RUNBOX_DIR=$dir "$awk" '${WRITABLE_MOUNTS_AWK}' /proc/self/mountinfo)
if [ -n "$left" ]; then
  printf 'runbox: the confined extraction did not start: these mounts stayed writable in its namespace (mountinfo escapes): %s\\n' "$(printf '%s' "$left" | tr '\\n' ' ')" >&2
  exit 111
fi
# After the pivot the root is the command's already: a cd, and no chroot or env to start.
if [ "$root" = / ]; then
  cd -- ${ROOT_DIR}
  exec setpriv --reuid="$uid" --regid="$gid" --clear-groups --no-new-privs --inh-caps=-all --bounding-set=-all --pdeathsig=SIGKILL -- "$@"
fi
exec chroot -- "$root" env -C ${ROOT_DIR} setpriv --reuid="$uid" --regid="$gid" --clear-groups --no-new-privs --inh-caps=-all --bounding-set=-all --pdeathsig=SIGKILL -- "$@"
`;

/**
 * Runs unshare in the background so that a cancel's SIGTERM can become SIGKILL (see the top). The
 * trap is set before unshare starts: a SIGTERM landing between its start and the trap (the sh's
 * default action then) left unshare and its tar running, orphaned, after the cancel. A signal
 * that comes before ns is set is remembered and acted on once it is.
 */
const OUTER = `set -u
inner=$1
shift
stop=
trap 'stop=1; [ -z "\${ns:-}" ] || kill -KILL "$ns" 2>/dev/null' TERM INT HUP
exec 3<&0
unshare --mount --pid --ipc --net --uts --fork --kill-child=SIGKILL --mount-proc -- sh -c "$inner" runbox-confined "$@" <&3 3<&- &
ns=$!
exec 3<&-
[ -z "$stop" ] || kill -KILL "$ns" 2>/dev/null
while :; do
  wait "$ns"
  st=$?
  kill -0 "$ns" 2>/dev/null || exit "$st"
done
`;

/** One process to start through exec (startProcess / runPipeline): argv only, root's. */
export interface ConfinedCommand {
  cmd: string;
  args: string[];
  privileged: true;
}

/**
 * `cmd args` run as `ids` (CONFINED_IDS or another slot's) with `dir` as its working dir and the
 * only place it can write (its stdin, stdout and stderr are the ones it is started with). `dir`
 * must exist, be owned by `ids` (makeConfinedDir) and lie inside a dir only root can enter. The
 * command sees the minimal root (see the top): `cmd` is looked up in PATH there, so it must live
 * under /usr (or /bin, /sbin), and `dir` is /extract to it.
 */
export function confinedCommand(dir: string, cmd: string, args: readonly string[], ids: Readonly<Ids> = CONFINED_IDS): ConfinedCommand {
  return { cmd: 'sh', args: ['-c', OUTER, 'runbox-confine', INNER, dir, String(ids.uid), String(ids.gid), cmd, ...args], privileged: true };
}

let idsChecked: Promise<void> | undefined;

/** Refuses when a user or group of the host has one of the slots' ids (once per process). */
export function checkConfinedIds(): Promise<void> {
  idsChecked ??= (async () => {
    const slots = Array.from({ length: CONFINED_SLOTS }, (_, i) => confinedIds(i));
    // One getent per database for all the slots' ids (a process start each costs a fork of
    // this process, issue 13): it prints the entries it found, and exits 2 when any was not.
    for (const [db, ids] of [
      ['passwd', slots.map((s) => s.uid)],
      ['group', slots.map((s) => s.gid)]
    ] as const) {
      const r = await run('getent', [db, ...ids.map(String)], { allowFailure: true });
      // 2 with nothing printed: none found, the expected answer. Anything else but a hit is getent failing.
      if (r.code === 2 && r.stdout.trim() === '') continue;
      if (r.code !== 0 && r.code !== 2)
        throw new Error(`\`getent ${db} ${ids.join(' ')}\` failed with ${r.code} (${r.stderr.trim()}); runbox checks that no ${db} entry has the ids it extracts snapshots as`);
      const hit = r.stdout.split('\n')[0].split(':');
      throw new Error(
        `runbox extracts snapshots as the unprivileged id ${hit[2] ?? ids.join(' or ')}, which must belong to nobody on this host, but ${db} has it (${hit[0]}); remove or renumber that ${db === 'passwd' ? 'user' : 'group'}`
      );
    }
  })();
  // A failed check is told once more next time, not cached as passed.
  idsChecked.catch(() => (idsChecked = undefined));
  return idsChecked;
}

/** Makes `dir` (its parent must exist): `ids`' (CONFINED_IDS by default), 0700. */
export async function makeConfinedDir(dir: string, ids: Readonly<Ids> = CONFINED_IDS): Promise<void> {
  await run('install', ['-d', '-m', '0700', '-o', String(ids.uid), '-g', String(ids.gid), '--', dir], { privileged: true });
}

/**
 * Gives everything under `dir` (itself included) to root, symlinks themselves (never followed).
 * Only once no confined process is left (the pid namespace ends with its command): nothing can
 * change the tree meanwhile, and nothing in it can be a hard link to a file from elsewhere.
 */
export async function giveToRoot(dir: string): Promise<void> {
  await run('chown', ['-R', '-P', '-h', '0:0', '--', dir], { privileged: true });
}
