import { createRequire as __WEBPACK_EXTERNAL_createRequire } from "module";
var __webpack_exports__ = {};

;// CONCATENATED MODULE: external "node:child_process"
const external_node_child_process_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:child_process");
;// CONCATENATED MODULE: ./src/launcher.ts
// runbox-launcher: starts the processes of a step's pipelines (zstd, tar) on its behalf.
//
// Why a process of its own: node 20 starts a child with fork(2), and on a VM a fork costs the
// parent far more than the fork. Every page the parent writes afterwards takes a copy-on-write
// fault, once per page per fork: on this project's test machine (a Firecracker VM) about 18 us a
// page. A restore or save starts a zstd (and a tar) per frame while node writes the same 20-50 MiB
// of reused buffers over and over (the download, the chunk proofs, the upload blocks), so each
// start cost it 40-130 ms of CPU in faults: a third of the node CPU of a 400 MiB restore, and
// most of the "copy" time profiles showed. This process forks instead; its own heap is small and
// quiet, and the step's node never forks while the bytes flow. See sys/launch.ts for the client.
//
// Bundled on its own (dist/launcher.js): dependency-free, node: modules only, started with an
// IPC channel as fd 3. What it runs is exactly the argv the step sent (built in sys/exec.ts,
// `sudo -n` included): it decides nothing. It exits when the step's process is gone (the
// channel closes); the children it started then go on as orphans, as a dead step's own would.
//
// Messages (JSON over the IPC channel; fds ride along as node's sendHandle):
//   step -> launcher  {t:'start', id, stages: [[argv0, ...args], ...], env, cwd, stdin: 'pipe'|'ignore',
//                      stdout: 'ignore'|'handle', stderrTail}  (with 'handle', the message carries the socket the
//                      last stage writes to: one end of a pair the step made)
//                     {t:'kill', id, stage, signal}
//   launcher -> step  {t:'stdin', id} + the write end of the first stage's stdin (with 'pipe'),
//                     then {t:'started', id, pids}; later per stage {t:'error', id, stage, error}
//                     or {t:'exit', id, stage, code, signal, stderr} (its last stderrTail bytes).
// Only a write end is ever sent. A readable socket of node's reads as soon as it exists, and what
// it read before the handle left (sends wait for the receiver's ack, one at a time) would be lost:
// so a stage's output reaches the step through the step's own pair, and its stderr as text.

const running = new Map();
function send(message, handle) {
    // The channel is gone when the step died: nothing to tell, and the 'disconnect' below exits.
    if (!process.connected)
        return;
    // A send that fails (the step exited a moment ago: EPIPE) ends this process as the
    // disconnect would; without the callback it is an 'error' that ends it with a stack on the
    // step's stderr.
    const sent = (e) => {
        if (e)
            process.exit(0);
    };
    if (handle)
        process.send?.(message, handle, sent);
    else
        process.send?.(message, undefined, sent);
}
function start(m, given) {
    const children = [];
    for (let i = 0; i < m.stages.length; i++) {
        const argv = m.stages[i];
        const first = i === 0;
        const last = i === m.stages.length - 1;
        const stdin = first ? m.stdin : children[i - 1].stdout;
        const stdout = last ? (m.stdout === 'handle' ? given : 'ignore') : 'pipe';
        let child;
        try {
            child = (0,external_node_child_process_namespaceObject.spawn)(argv[0], argv.slice(1), { cwd: m.cwd, env: m.env, stdio: [stdin, stdout, 'pipe'] });
        }
        catch (e) {
            // Refused before any process (E2BIG, an argument with a NUL): this stage and the ones
            // after it fail, the ones before it are stopped; the launcher itself goes on serving.
            const err = e;
            for (let j = i; j < m.stages.length; j++)
                send({ t: 'error', id: m.id, stage: j, error: { message: err.message, code: err.code, errno: err.errno, syscall: err.syscall, path: err.path } });
            for (const c of children)
                c.kill('SIGTERM');
            given?.destroy();
            children[i - 1]?.stdout?.destroy();
            break;
        }
        // The previous stage's read end belongs to this child now; ours closed, so the previous
        // stage sees EPIPE when this one exits early. Likewise the step's socket the last one writes.
        if (!first)
            children[i - 1].stdout?.destroy();
        if (last)
            given?.destroy();
        children.push(child);
        const key = `${m.id}/${i}`;
        running.set(key, child);
        child.once('error', (e) => {
            running.delete(key);
            send({ t: 'error', id: m.id, stage: i, error: { message: e.message, code: e.code, errno: e.errno, syscall: e.syscall, path: e.path } });
        });
        const err = [];
        let errBytes = 0;
        child.stderr?.on('data', (b) => {
            err.push(b);
            errBytes += b.length;
            while (errBytes - err[0].length >= m.stderrTail)
                errBytes -= err.shift().length;
        });
        // 'close', not 'exit': the stderr it wrote is all read by then.
        child.once('close', (code, signal) => {
            running.delete(key);
            const all = Buffer.concat(err);
            send({ t: 'exit', id: m.id, stage: i, code, signal, stderr: all.subarray(Math.max(0, all.length - m.stderrTail)).toString() });
        });
        // Sent, the step's copy is the only one: sendHandle closes ours once it is on its way.
        if (first && child.stdin)
            send({ t: 'stdin', id: m.id }, child.stdin);
    }
    send({ t: 'started', id: m.id, pids: m.stages.map((_, i) => children[i]?.pid ?? null) });
}
// Each fd sent waits for the step's acknowledgement with a listener of its own, and a save starts
// a pipeline per frame at once: more than node's default of 10 is no leak here.
process.setMaxListeners(0);
process.on('message', (m, handle) => {
    if (m.t === 'start')
        start(m, handle);
    else if (m.t === 'kill')
        running.get(`${m.id}/${m.stage}`)?.kill(m.signal);
});
// A cancel signals the step's whole process group: this process stays, so the step can still
// stop its children through it (sys/exec stopChildren), and exits with the step.
for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'])
    process.on(s, () => undefined);
process.on('disconnect', () => process.exit(0));
send({ t: 'ready' });

