import { createRequire as __WEBPACK_EXTERNAL_createRequire } from "module";
/******/ // The require scope
/******/ var __nccwpck_require__ = {};
/******/ 
/************************************************************************/
/******/ /* webpack/runtime/compat get default export */
/******/ (() => {
/******/ 	// getDefaultExport function for compatibility with non-harmony modules
/******/ 	__nccwpck_require__.n = (module) => {
/******/ 		var getter = module && module.__esModule ?
/******/ 			() => (module['default']) :
/******/ 			() => (module);
/******/ 		__nccwpck_require__.d(getter, { a: getter });
/******/ 		return getter;
/******/ 	};
/******/ })();
/******/ 
/******/ /* webpack/runtime/define property getters */
/******/ (() => {
/******/ 	// define getter functions for harmony exports
/******/ 	__nccwpck_require__.d = (exports, definition) => {
/******/ 		for(var key in definition) {
/******/ 			if(__nccwpck_require__.o(definition, key) && !__nccwpck_require__.o(exports, key)) {
/******/ 				Object.defineProperty(exports, key, { enumerable: true, get: definition[key] });
/******/ 			}
/******/ 		}
/******/ 	};
/******/ })();
/******/ 
/******/ /* webpack/runtime/hasOwnProperty shorthand */
/******/ (() => {
/******/ 	__nccwpck_require__.o = (obj, prop) => (Object.prototype.hasOwnProperty.call(obj, prop))
/******/ })();
/******/ 
/************************************************************************/
var __webpack_exports__ = {};

;// CONCATENATED MODULE: external "node:child_process"
const external_node_child_process_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:child_process");
;// CONCATENATED MODULE: external "node:fs"
const external_node_fs_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:fs");
var external_node_fs_default = /*#__PURE__*/__nccwpck_require__.n(external_node_fs_namespaceObject);
;// CONCATENATED MODULE: ./src/sys/errno.ts
// Errno checks and the one "lstat, or nothing there" of runbox.

// Not `instanceof Error`: errors thrown by node core come from another realm under jest's vm modules.
function errnoOf(e) {
    return typeof e === 'object' && e !== null ? e.code : undefined;
}
function isErrno(e, ...codes) {
    const code = errnoOf(e);
    return code !== undefined && codes.includes(code);
}
/**
 * lstat, or undefined when the path names nothing: ENOENT, and ENOTDIR, which is the same answer
 * for a path whose parent was replaced by a file (a concurrent reap or a planted file). Any other
 * errno is not "missing" and is thrown: EACCES in particular means "there may be something we
 * cannot see", and only a caller that can treat such an entry as not its own says so with
 * `hiddenIsMissing` (warm, which never copies from a dir another runner user closed).
 */
function lstatOrUndefined(p, opts = {}) {
    try {
        return fs.lstatSync(p);
    }
    catch (e) {
        if (isErrno(e, 'ENOENT', 'ENOTDIR') || (opts.hiddenIsMissing === true && isErrno(e, 'EACCES')))
            return undefined;
        throw e;
    }
}

;// CONCATENATED MODULE: ./src/sys/proc-stat.ts
// /proc/<pid>/stat, read by the keeper (is the runner worker still there?), by post (has the
// keeper let go?) and by the store's markers (is the restore that left this still running?).
// No runbox or @actions imports: dist/keeper.js bundles it and stays dependency-free.

/** undefined when there is no such process (or thread `tid` of it). */
function procStat(pid, tid) {
    let text;
    try {
        text = external_node_fs_default().readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
    }
    catch (e) {
        const code = e?.code;
        if (code === 'ENOENT' || code === 'ESRCH')
            return undefined;
        throw e;
    }
    // The command name (field 2) is in parentheses and may hold spaces or ')': split after the last ')'.
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: rest[0], startTime: rest[19] };
}

;// CONCATENATED MODULE: external "node:path"
const external_node_path_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:path");
var external_node_path_default = /*#__PURE__*/__nccwpck_require__.n(external_node_path_namespaceObject);
;// CONCATENATED MODULE: ./src/dirs/dir-users.ts
// Who on this host uses a dir right now, read from /proc. A free lock says that no runbox job
// holds a dir; it says nothing about a process that outlived its job (a container whose PID 1
// ignored the cancel, a backgrounded build). Those are found here, by what the kernel shows:
//   - in our mount namespace: cwd, root, an open fd or a mapped file under the dir;
//   - in any other mount namespace (containers): a mount whose source is the dir or a path
//     under it, matched by device and path within that filesystem (`/proc/<pid>/mountinfo`
//     fields 3 and 4), since paths inside a container are not host paths.
// A mount of a parent of the dir (a monitoring agent with `-v /:/host`) is deliberately not a
// use: counting it would make every dir on the host "in use" forever.
//
// Dependency-free on purpose: dist/keeper.js bundles it too (`keeper.js --dir-users`), which is
// how a runner that is not root runs the scan as root (other users' fds and cwds are hidden).


const CONTAINER_ID = /(?:docker|libpod|crio|cri-containerd|containerd)[-/]([0-9a-f]{64})/;
function scanDirUsers(dirsIn, opts = {}) {
    const dirs = dirsIn.map((d) => external_node_path_default().resolve(d));
    const out = { users: [], unreadable: 0 };
    if (dirs.length === 0)
        return out;
    const ownMountinfo = readText('/proc/self/mountinfo') ?? '';
    const ownNs = readLink('/proc/self/ns/mnt');
    const refs = new Map(dirs.map((d) => [d, mountRef(d, ownMountinfo)]));
    const me = process.pid;
    for (const name of external_node_fs_default().readdirSync('/proc')) {
        if (!/^\d+$/.test(name))
            continue;
        const pid = Number(name);
        if (pid === me || opts.except?.has(pid))
            continue;
        const startTime = statStartTime(pid);
        if (startTime === undefined)
            continue; // exited meanwhile, or a kernel thread's oddity
        const found = [];
        const ns = readLink(`/proc/${pid}/ns/mnt`);
        const mountinfo = readText(`/proc/${pid}/mountinfo`);
        if (mountinfo === undefined)
            continue; // gone
        // Without the ns link (another user's process, we are not root) the mount table tells.
        const sameNs = ns !== undefined && ownNs !== undefined ? ns === ownNs : mountinfo === ownMountinfo;
        if (sameNs) {
            const paths = processPaths(pid);
            if (paths === undefined)
                out.unreadable++;
            else
                for (const p of paths)
                    for (const d of dirs)
                        if (isAtOrUnder(d, p.path))
                            found.push({ dir: d, how: p.how });
        }
        else {
            for (const d of dirs) {
                const ref = refs.get(d);
                if (ref && mountsOf(mountinfo).some((m) => m.dev === ref.dev && isAtOrUnder(ref.fsPath, m.root)))
                    found.push({ dir: d, how: 'mount' });
            }
        }
        if (found.length === 0)
            continue;
        const command = commandOf(pid);
        const containerId = CONTAINER_ID.exec(readText(`/proc/${pid}/cgroup`) ?? '')?.[1];
        const seen = new Set();
        for (const f of found) {
            if (seen.has(f.dir))
                continue; // one line per process and dir: the first way it uses it
            seen.add(f.dir);
            out.users.push({ pid, startTime, command, dir: f.dir, how: f.how, ...(containerId ? { containerId } : {}) });
        }
    }
    return out;
}
/** The process's cwd, root, fds and mapped files as host paths; undefined when we may not read them. */
function processPaths(pid) {
    const out = [];
    const cwd = readLink(`/proc/${pid}/cwd`);
    if (cwd === undefined)
        return external_node_fs_default().existsSync(`/proc/${pid}`) ? undefined : [];
    out.push({ path: cwd, how: 'cwd' });
    const root = readLink(`/proc/${pid}/root`);
    if (root !== undefined && root !== '/')
        out.push({ path: root, how: 'root' });
    let fds = [];
    try {
        fds = external_node_fs_default().readdirSync(`/proc/${pid}/fd`);
    }
    catch (e) {
        if (denied(e))
            return undefined;
        if (!gone(e))
            throw e;
    }
    for (const fd of fds) {
        const target = readLink(`/proc/${pid}/fd/${fd}`);
        if (target?.startsWith('/'))
            out.push({ path: target, how: 'fd' });
    }
    // The path is the last field, after five fixed ones; it may contain spaces.
    for (const line of (readText(`/proc/${pid}/maps`) ?? '').split('\n')) {
        const m = /^\S+ \S+ \S+ \S+ \d+\s+(\/.*)$/.exec(line);
        if (m)
            out.push({ path: m[1], how: 'mapped file' });
    }
    return out.map((p) => ({ ...p, path: p.path.replace(/ \(deleted\)$/, '') }));
}
function mountsOf(mountinfo) {
    const out = [];
    for (const line of mountinfo.split('\n')) {
        const f = line.split(' ');
        if (f.length < 5)
            continue;
        out.push({ dev: f[2], root: unescapeMountPath(f[3]), mountPoint: unescapeMountPath(f[4]) });
    }
    return out;
}
/** mountinfo escapes space, tab, newline and backslash as \\ooo. */
function unescapeMountPath(s) {
    return s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
}
/**
 * Where `dir` lives in our own mount table: the mount with the longest mount point containing it
 * (the last one listed wins a tie: it is stacked on top), and the dir's path within that mount's
 * filesystem. A container's bind mount of the dir carries the same device and that path as root.
 */
function mountRef(dir, ownMountinfo) {
    let best;
    for (const m of mountsOf(ownMountinfo))
        if (isAtOrUnder(m.mountPoint, dir) && (!best || m.mountPoint.length >= best.mountPoint.length))
            best = m;
    if (!best)
        return undefined;
    const rel = external_node_path_default().relative(best.mountPoint, dir);
    return { dev: best.dev, fsPath: rel === '' ? best.root : external_node_path_default().posix.join(best.root, rel) };
}
function isAtOrUnder(dir, p) {
    return p === dir || p.startsWith(dir === '/' ? '/' : `${dir}/`);
}
function commandOf(pid) {
    const argv = (readText(`/proc/${pid}/cmdline`) ?? '').split('\0').filter(Boolean).join(' ');
    const cmd = argv || `[${(readText(`/proc/${pid}/comm`) ?? '?').trim()}]`;
    return cmd.length > 120 ? `${cmd.slice(0, 117)}...` : cmd;
}
function statStartTime(pid) {
    const text = readText(`/proc/${pid}/stat`);
    if (text === undefined)
        return undefined;
    return text.slice(text.lastIndexOf(')') + 2).split(' ')[19];
}
function readText(p) {
    try {
        return external_node_fs_default().readFileSync(p, 'utf8');
    }
    catch (e) {
        if (gone(e) || denied(e))
            return undefined;
        throw e;
    }
}
function readLink(p) {
    try {
        return external_node_fs_default().readlinkSync(p);
    }
    catch (e) {
        if (gone(e) || denied(e))
            return undefined;
        throw e;
    }
}
// A process can exit between readdir(/proc) and any read of its entries.
function gone(e) {
    const code = e?.code;
    return code === 'ENOENT' || code === 'ESRCH' || code === 'EINVAL';
}
function denied(e) {
    const code = e?.code;
    return code === 'EACCES' || code === 'EPERM';
}

;// CONCATENATED MODULE: ./src/keeper.ts
// runbox-keeper: holds runbox's dir locks from the main step until the post step.
//
// The main step's node process exits when the step ends, and with it its fds — and so its flock
// locks. This tiny process is started detached by main with the lock fds inherited at fds 3..N
// (see lock/keeper-client.ts); merely staying alive keeps those locks held. It exits, freeing
// them, when post asks (SIGTERM) or when the runner worker it watches is gone, so a crashed or
// cancelled job cannot leave a dir locked.
//
// With `leftovers: wait`, post sends SIGUSR2 instead: a process of the finished job (a container
// that ignored the cancel) still uses a dir. The keeper then hands the fds to a successor that no
// longer follows the runner worker (the job is over) and holds the locks until nothing uses the
// dirs any more (`--linger`). The successor does not carry RUNNER_TRACKING_ID, or the runner's
// end-of-job orphan cleanup would kill it and free the dirs under the leftover.
//
// Bundled on its own (dist/keeper.js): keep it dependency-free, no @actions/* (sys/errno,
// sys/proc-stat and dirs/dir-users import node: modules only).
//
// Usage: keeper.js --watch-pid <pid> --fds 3,4,5 [--ready-fd <n>]
//        keeper.js --linger --fds 3,4,5 [--ready-fd <n>]
//        keeper.js --dir-users [--except <pid,...>] -- <dir>...   (prints the scan as JSON)
// Exit codes before ready: 2 = bad arguments or fds, 3 = watched pid not running.





/**
 * How often the watched worker is checked. RUNBOX_TEST_KEEPER_POLL_MS is for tests only (like
 * RUNBOX_TEST_RETRY_MS): a shorter poll, so a test sees a killed worker's locks freed at once.
 * Read once, at start; the client passes it on only when it is set.
 */
const POLL_MS = pollMs(process.env.RUNBOX_TEST_KEEPER_POLL_MS);
function pollMs(raw) {
    const v = (raw ?? '').trim();
    return /^[1-9][0-9]{0,4}$/.test(v) ? Number(v) : 1000;
}
/** A lingering keeper scans /proc (through sudo when not root): less often than the worker check. */
const LINGER_POLL_MS = 2000;
function parseArgs(argv) {
    const value = (flag) => {
        const i = argv.indexOf(flag);
        return i >= 0 ? argv[i + 1] : undefined;
    };
    const int = (s) => (s && /^\d+$/.test(s) ? Number(s) : undefined);
    const linger = argv.includes('--linger');
    const watchPid = int(value('--watch-pid'));
    const fds = (value('--fds') ?? '').split(',').map(int);
    const readyFd = int(value('--ready-fd'));
    if (linger === (watchPid !== undefined) || watchPid === 0 || fds.some((fd) => fd === undefined || fd < 3))
        return undefined;
    return { watchPid, fds: fds, readyFd };
}
/**
 * kill(pid, 0) alone is not enough: a dead worker stays a zombie until its parent reaps it,
 * and a reused pid looks alive. /proc tells both apart (when /proc is mounted).
 */
function isGone(pid, startTime) {
    try {
        process.kill(pid, 0);
    }
    catch (e) {
        if (errnoOf(e) === 'ESRCH')
            return true;
        // EPERM: it exists but belongs to another user; still alive.
        if (errnoOf(e) !== 'EPERM')
            throw e;
    }
    const st = procStat(pid);
    if (!st)
        return startTime !== undefined; // /proc knew it before, so it is gone now
    return st.state === 'Z' || (startTime !== undefined && st.startTime !== startTime);
}
/**
 * The janitor reads a lock file's mtime as the guarded dir's last use, so stamp it as we let go,
 * and mark the holder record `released`: a free lock whose record is not released means this
 * keeper died alone, and the dir stays the job's while its runner process lives (see
 * lock/keeper-client.ts jobStillRuns). Best effort: a lock file owned by another user (we only
 * hold a read-only fd) keeps its time and record.
 */
function release(fds) {
    const now = new Date();
    for (const fd of fds) {
        try {
            markReleased(fd, now);
            external_node_fs_namespaceObject.futimesSync(fd, now, now);
        }
        catch (e) {
            if (errnoOf(e) !== 'EPERM' && errnoOf(e) !== 'EACCES' && errnoOf(e) !== 'EBADF')
                throw e;
        }
    }
    process.exit(0);
}
/** The dirs our lock fds guard: each lock file is `<dir>.lock`. */
function guardedDirs(fds) {
    return fds
        .map((fd) => external_node_fs_namespaceObject.readlinkSync(`/proc/self/fd/${fd}`))
        .filter((p) => p.endsWith('.lock'))
        .map((p) => p.slice(0, -'.lock'.length));
}
/**
 * Other users' cwds and fds are hidden from a non-root keeper, so it asks its own script, run as
 * root through `sudo -n` (argv, never a shell string). Without sudo it sees what it can: mounts
 * (containers) and its own user's processes.
 */
function dirUsers(dirs) {
    if (process.getuid?.() === 0)
        return scanDirUsers(dirs);
    const r = (0,external_node_child_process_namespaceObject.spawnSync)('sudo', ['-n', '--', process.execPath, process.argv[1], '--dir-users', '--', ...dirs], { encoding: 'utf8', timeout: 60000 });
    if (r.status === 0)
        return JSON.parse(r.stdout);
    return scanDirUsers(dirs);
}
let handingOver = false;
/** SIGUSR2: start a --linger successor on the same fds, wait until it holds them, then exit without releasing. */
function handToLingerer(fds) {
    // A second request while the first successor starts would make two of them.
    if (handingOver)
        return;
    handingOver = true;
    const readyFd = 3 + fds.length;
    const child = (0,external_node_child_process_namespaceObject.spawn)(process.execPath, [process.argv[1], '--linger', '--fds', fds.map((_, i) => 3 + i).join(','), '--ready-fd', String(readyFd)], {
        detached: true,
        cwd: '/',
        env: { PATH: process.env.PATH },
        stdio: ['ignore', 'ignore', 'ignore', ...fds, 'pipe']
    });
    const ready = child.stdio[readyFd];
    const giveUp = setTimeout(() => release(fds), 10000);
    ready.once('data', () => {
        clearTimeout(giveUp);
        // The successor holds every lock now; exiting closes only our copies.
        process.exit(0);
    });
    // No successor: let go as if post had asked, rather than keep following a finished job.
    child.once('error', () => release(fds));
    child.once('exit', () => release(fds));
}
function linger(args) {
    const dirs = guardedDirs(args.fds);
    for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'])
        process.on(sig, () => release(args.fds));
    const check = () => {
        if (dirUsers(dirs).users.length === 0)
            release(args.fds);
    };
    setInterval(check, LINGER_POLL_MS);
}
function dirUsersMain(argv) {
    const sep = argv.indexOf('--');
    const flags = sep >= 0 ? argv.slice(0, sep) : argv;
    const dirs = sep >= 0 ? argv.slice(sep + 1) : [];
    const exceptAt = flags.indexOf('--except');
    const except = exceptAt >= 0 ? (flags[exceptAt + 1] ?? '').split(',') : [];
    if (dirs.length === 0 || dirs.some((d) => !d.startsWith('/')) || except.some((p) => !/^\d+$/.test(p)))
        process.exit(2);
    process.stdout.write(JSON.stringify(scanDirUsers(dirs, { except: new Set(except.map(Number)) })));
}
function markReleased(fd, now) {
    const buf = Buffer.alloc(64 * 1024);
    const text = buf.subarray(0, external_node_fs_namespaceObject.readSync(fd, buf, 0, buf.length, 0)).toString('utf8');
    let record;
    try {
        record = JSON.parse(text);
    }
    catch (e) {
        if (e instanceof SyntaxError)
            return; // no record (a read-only lock file main could not write)
        throw e;
    }
    if (typeof record !== 'object' || record === null)
        return;
    const data = Buffer.from(JSON.stringify({ ...record, released: now.toISOString() }) + '\n');
    external_node_fs_namespaceObject.ftruncateSync(fd, 0);
    external_node_fs_namespaceObject.writeSync(fd, data, 0, data.length, 0);
}
function main() {
    if (process.argv[2] === '--dir-users')
        return dirUsersMain(process.argv.slice(3));
    const args = parseArgs(process.argv.slice(2));
    if (!args)
        process.exit(2);
    // Recognisable in ps and to stopKeeper, which checks /proc/<pid>/cmdline before signalling.
    process.title = args.watchPid === undefined ? `runbox-keeper --linger --fds ${args.fds.join(',')}` : `runbox-keeper --watch-pid ${args.watchPid} --fds ${args.fds.join(',')}`;
    // Don't pin the workspace (or whatever dir main ran in) as our cwd.
    process.chdir('/');
    for (const fd of args.fds) {
        try {
            external_node_fs_namespaceObject.fstatSync(fd);
        }
        catch (e) {
            if (errnoOf(e) === 'EBADF')
                process.exit(2);
            throw e;
        }
    }
    const watchPid = args.watchPid;
    if (watchPid === undefined)
        linger(args);
    else {
        const startTime = procStat(watchPid)?.startTime;
        if (isGone(watchPid, startTime))
            process.exit(3);
        for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'])
            process.on(sig, () => release(args.fds));
        process.on('SIGUSR2', () => handToLingerer(args.fds));
        setInterval(() => {
            if (isGone(watchPid, startTime))
                release(args.fds);
        }, POLL_MS);
    }
    // Tell main we are up and hold the fds; it may close its copies now.
    if (args.readyFd !== undefined) {
        external_node_fs_namespaceObject.writeSync(args.readyFd, 'R');
        external_node_fs_namespaceObject.closeSync(args.readyFd);
    }
}
main();

