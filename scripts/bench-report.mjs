// BENCHMARKS.md from the figures scripts/bench.mjs took: issue 13's targets (met or not, and by
// how much), the machine, the medians per scenario and every round's raw figures. Pure: figures
// in, markdown out.
const MIB = 2 ** 20;

export function median(xs) {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const sec = (s) => (Number.isFinite(s) ? `${s.toFixed(2)} s` : 'n/a');
const x = (r) => (Number.isFinite(r) ? `${r.toFixed(2)}x` : 'n/a');
const mib = (b) => (Number.isFinite(b) ? `${(b / MIB).toFixed(1)} MiB` : 'n/a');
const pct = (f) => (Number.isFinite(f) ? `${(100 * f).toFixed(1)}%` : 'n/a');
const sizeName = (m) => (m >= 1000 ? `${(m / 1000).toFixed(1)} GB` : `${m} MiB`);

/** The per-round ratios a size's targets are judged on (each against the same round's basis). */
export function ratios(rounds) {
  const per = (fn) => rounds.map((r) => fn(r)).filter((v) => Number.isFinite(v));
  return {
    save: per((r) => r['runbox save'].s / r['floor save'].s),
    restore: per((r) => r['runbox restore'].s / r['floor restore'].s),
    partial: per((r) => r['restore onto 90%'].s / r['runbox restore'].s),
    partialBytes: per((r) => r['restore onto 90%'].down / r['runbox save'].up),
    capped: per((r) => r['restore at cap'].s / Math.max(r['download at cap'].s, r['floor restore'].s)),
    baselineSave: per((r) => (r['baseline save'] ? r['baseline save'].s / r['floor save'].s : NaN)),
    baselineRestore: per((r) => (r['baseline restore'] ? r['baseline restore'].s / r['floor restore'].s : NaN))
  };
}

/**
 * The step's own account of its phases in the last round (`store restore time: download 1.2 s,
 * ...`), with what they leave of its wall time: node start-up, the cache lookup and whatever else
 * the step does not time.
 */
export function phases(rounds, name) {
  const f = rounds.at(-1)?.[name];
  if (!f?.line) return '';
  const timed = [...f.line.matchAll(/(\d+(?:\.\d+)?) s\b/g)].reduce((n, m) => n + Number(m[1]), 0);
  // Streamed phases overlap: their sum can pass the wall time.
  const rest = timed <= f.s ? `${(f.s - timed).toFixed(1)} s outside them` : 'they overlap';
  return `${f.line} (last round: these phases add up to ${timed.toFixed(1)} s of ${f.s.toFixed(1)} s wall, ${rest})`;
}

/** "12% under" / "54% over": how far a measured figure is from its limit. */
function margin(measured, limit) {
  if (!Number.isFinite(measured)) return 'not measured';
  if (limit === 0) return measured === 0 ? 'exactly' : `${measured} over`;
  const f = measured / limit - 1;
  return f <= 0 ? `${(-100 * f).toFixed(0)}% under` : `${(100 * f).toFixed(0)}% over`;
}

/**
 * Issue 13's targets for one size: each row with what was measured, the limit, whether it is
 * met, by how much, and where the time went (the step's own time line and CPU seconds).
 */
export function evaluateTargets(result) {
  const { rounds, notes } = result;
  const rt = ratios(rounds);
  const med = (name, f = 's') => median(rounds.map((r) => r[name]?.[f]));
  const excess = (num, den, limit) => median(rounds.map((r) => num(r) - limit * den(r)));
  const seconds = (num, den, limit) => {
    const e = excess(num, den, limit);
    return e > 0 ? `, ${e.toFixed(2)} s over the target time (median)` : '';
  };
  const cpu = (name, floor) => `CPU ${med(name, 'cpu').toFixed(1)} s${floor ? ` (${floor} ${med(floor, 'cpu').toFixed(1)} s)` : ''}`;
  const where = (name, floor) => [phases(rounds, name) || notes.lines[name], cpu(name, floor)].filter(Boolean).join('; ');
  const row = (target, measured, value, limit, where, extra = '') => ({ target, size: result.mib, measured, met: value <= limit, by: `${margin(value, limit)}${extra}`, where });
  const diskSteps = ['runbox save', 'runbox restore', 'restore onto 90%', 'restore at cap'];
  const disk = Math.max(...rounds.flatMap((r) => diskSteps.map((n) => r[n]?.disk ?? NaN)).filter(Number.isFinite));
  const diskAt = diskSteps.map((n) => `${n} ${mib(Math.max(...rounds.map((r) => r[n]?.disk ?? 0)))}`).join(', ');
  const exactUp = Math.max(...rounds.map((r) => r['exact-hit post'].up));
  const partialRatio = median(rt.partial);
  const partialBytes = median(rt.partialBytes);
  const rows = [
    row(
      'full restore ≤ 1.2x the restore floor',
      x(median(rt.restore)),
      median(rt.restore),
      1.2,
      where('runbox restore', 'floor restore'),
      seconds(
        (r) => r['runbox restore'].s,
        (r) => r['floor restore'].s,
        1.2
      )
    ),
    row(
      'full save ≤ 1.2x the save floor',
      x(median(rt.save)),
      median(rt.save),
      1.2,
      where('runbox save', 'floor save'),
      seconds(
        (r) => r['runbox save'].s,
        (r) => r['floor save'].s,
        1.2
      )
    ),
    {
      ...row('restore onto 90% ≤ 0.25x a full restore', `${x(partialRatio)}, downloading ${pct(partialBytes)} of the entry`, partialRatio, 0.25, where('restore onto 90%', 'runbox restore')),
      target: 'restore onto 90% ≤ 0.25x a full restore, downloading ≤ 20% of the entry',
      met: partialRatio <= 0.25 && partialBytes <= 0.2,
      by: `time ${margin(partialRatio, 0.25)}, bytes ${margin(partialBytes, 0.2)}`
    },
    row(
      `capped link (${result.rateMB ?? ''} MB/s): restore ≤ 1.15x max(download at the cap, restore floor)`,
      x(median(rt.capped)),
      median(rt.capped),
      1.15,
      `${where('restore at cap')}; download at the cap ${sec(med('download at cap'))} (${(med('download at cap', 'down') / med('download at cap') / 1e6).toFixed(0)} MB/s delivered), restore floor ${sec(med('floor restore'))}`
    ),
    row('extra disk during save or restore ≤ 64 MiB', `${mib(disk)} (highest of all rounds)`, disk / MIB, 64, diskAt),
    {
      ...row('exact-hit post < 1 s, uploading nothing', `${sec(med('exact-hit post'))}, ${exactUp} bytes uploaded`, med('exact-hit post'), 1, cpu('exact-hit post')),
      met: med('exact-hit post') < 1 && exactUp === 0,
      by: `${margin(med('exact-hit post'), 1)}${exactUp ? `, uploaded ${mib(exactUp)}` : ', nothing uploaded'}`
    }
  ];
  return rows;
}

const SCENARIOS = [
  ['floor save', undefined],
  ['runbox save', 'floor save'],
  ['baseline save', 'floor save'],
  ['floor restore', undefined],
  ['runbox restore', 'floor restore'],
  ['baseline restore', 'floor restore'],
  ['exact-hit post', undefined],
  ['restore onto 90%', 'runbox restore'],
  ['download at cap', undefined],
  ['restore at cap', 'max(download at cap, floor restore)']
];

function basisOf(r, basis) {
  if (basis === 'max(download at cap, floor restore)') return Math.max(r['download at cap'].s, r['floor restore'].s);
  return r[basis]?.s;
}

function scenarioTable(rounds) {
  const lines = [
    '| scenario | wall (median) | min - max | ratio (median of rounds) | CPU s (median) | peak extra disk (max) | uploaded (median) | downloaded (median) |',
    '|---|---|---|---|---|---|---|---|'
  ];
  for (const [name, basis] of SCENARIOS) {
    const figs = rounds.map((r) => r[name]).filter(Boolean);
    if (!figs.length) continue;
    const s = figs.map((f) => f.s);
    const ratio = basis ? `${x(median(rounds.filter((r) => r[name]).map((r) => r[name].s / basisOf(r, basis))))} ${basis}` : '';
    const disk = figs.some((f) => f.disk !== undefined) ? mib(Math.max(...figs.map((f) => f.disk ?? 0))) : '';
    lines.push(
      `| ${name} | ${sec(median(s))} | ${sec(Math.min(...s))} - ${sec(Math.max(...s))} | ${ratio} | ${median(figs.map((f) => f.cpu)).toFixed(2)} | ${disk} | ${mib(median(figs.map((f) => f.up)))} | ${mib(median(figs.map((f) => f.down)))} |`
    );
  }
  return lines.join('\n');
}

function rawTable(rounds) {
  const lines = ['| round | scenario | wall s | CPU s | extra disk MiB (fs / staging) | up MiB | down MiB |', '|---|---|---|---|---|---|---|'];
  rounds.forEach((r, i) => {
    for (const [name, f] of Object.entries(r)) {
      const disk = f.disk === undefined ? '' : `${(f.disk / MIB).toFixed(1)} (${(f.fsExtra / MIB).toFixed(1)} / ${(f.stagingPeak / MIB).toFixed(1)})`;
      lines.push(`| ${i + 1} | ${name} | ${f.s.toFixed(3)} | ${f.cpu.toFixed(2)} | ${disk} | ${(f.up / MIB).toFixed(2)} | ${(f.down / MIB).toFixed(2)} |`);
    }
  });
  return lines.join('\n');
}

export function renderReport({ machine, options, results }) {
  const m = machine;
  const targetRows = results.flatMap((res) => evaluateTargets({ ...res, rateMB: options.rateMB }));
  const metCount = targetRows.filter((t) => t.met).length;
  const load = (l) => l.map((v) => v.toFixed(2)).join(' ');
  const perSize = results
    .map((res) => {
      const f = res.facts;
      const n = res.notes;
      const entry = median(res.rounds.map((r) => r['runbox save'].up));
      const d = n.delta;
      return `### ${sizeName(res.mib)} store (\`mkstore.sh ROOT ${res.mib}\`)

${(f.bytes / MIB).toFixed(0)} MiB, ${f.files} files, ${f.items} items, ${f.links} \`.links\` entries; the items with every hard link counted as its own file: ${(f.itemBytes / MIB).toFixed(0)} MiB. The entry runbox uploads: ${mib(entry)}; the floor's archive: ${mib(n.floorBytes)}.

${scenarioTable(res.rounds)}

- Checked in round 1 (the script stops otherwise): the ${n.checked} entries runbox restored under gnu/store equal the source's in the canonical view, no dot-entry and no private dir left, the DB registers the source's paths and references; onto 90%: ${n.dropped} of ${f.items} items missing beforehand${n.droppedShare !== undefined ? ` (holding ${(100 * n.droppedShare).toFixed(0)}% of the items' data, each file once: the least a partial restore can fetch)` : ''}, their ${n.partialChecked} entries came back canonical.
${d ? `- Delta save (round 1): ${d.added} new items (${((100 * d.added) / d.items).toFixed(1)}% of the store) uploaded ${mib(d.save.up)} = ${pct(d.save.up / entry)} of the full entry, post ${sec(d.save.s)}, base + delta restore ${sec(d.restore.s)} (checked identical). ${d.line}` : '- Delta save: not measured'}
- Where the time went (the step's own time line, last round): ${
        ['runbox save', 'runbox restore', 'restore onto 90%', 'restore at cap']
          .filter((k) => n.lines[k])
          .map((k) => `${k}: \`${n.lines[k]}\``)
          .join('; ') || 'the steps print no time line'
      }`;
    })
    .join('\n\n');
  const raw = results.map((res) => `#### ${sizeName(res.mib)}\n\n${rawTable(res.rounds)}`).join('\n\n');

  return `# Benchmarks

Generated by \`npm run bench\` (scripts/bench.mjs) on ${m.date.slice(0, 10)} (\`${options.command}\`): ${options.rounds} interleaved rounds
(one of each scenario per round) per store size; every ratio is taken against its basis measured in the same round,
then the median over the rounds is shown. Absolute seconds drift on a shared machine; the ratios are what count.

## Targets (issue 13): ${metCount} of ${targetRows.length} met

| target | store | measured | | by how much | where the time went |
|---|---|---|---|---|---|
${targetRows.map((t) => `| ${t.target} | ${sizeName(t.size)} | ${t.measured} | ${t.met ? '**met**' : '**not met**'} | ${t.by} | ${t.where} |`).join('\n')}

## Machine
- ${m.nproc} cores (${m.cpu}), ${m.ramGiB.toFixed(0)} GiB RAM, Linux ${m.kernel}, node ${m.node}, ${m.tar}, ${m.zstd}
- work filesystem: ${m.fs}
- load average (1, 5, 15 min) before: ${load(m.load.before)}, after: ${load(m.load.after)} (other work on the machine skews single rounds; the medians of same-round ratios absorb some of it)

## How it is measured
- floor: \`tar -c | zstd -T0 -3 -o FILE\` and \`zstd -dc FILE | tar -x\` of the same store paths (\`.links\` included; no checks, no DB handling). baseline: the hand-written recipe (\`sudo tar --zstd\` to a staging file, @actions/cache \`saveCache\`; \`restoreCache\`, \`sudo tar --zstd -xf\`), its own node process${options.baseline ? '' : ' (skipped in this run)'}.
- runbox: \`node dist/main.js\` / \`node dist/post.js\` as separate processes (tools/local-runner.mjs) against the loopback cache stand-in (tools/cache-server.mjs, in the benchmark's process), store root at a temp dir (\`RUNBOX_STORE_ROOT\`), \`daemon: none\`${options.shards ? `, \`shards: ${options.shards}\`` : ''}. A save is the post step after a missed main; a restore is main into an empty store root; the exact-hit post follows that restore; "onto 90%" is main into a copy of the source with its newest 10% of items (by registration time, and their registrations) removed: a store that lags the snapshot by the last builds. (With every 10th item removed instead, the missing items sit in every frame and the whole entry is downloaded.)
- capped link: tools/throttle-proxy.mjs in front of the stand-in paces every body it forwards to ${options.rateMB} MB/s per direction (shared by all connections) and rewrites the signed blob URLs to itself. "download at cap" is \`curl\` of the entry's blobs through it (the least any restore over that link can take); "restore at cap" is runbox's full restore through it.
- wall: from the step's process start to its exit, \`sync\` before each timed step. CPU: user + system seconds of the step's processes and all their waited-for descendants (the growth of cutime + cstime in the benchmark's /proc/self/stat over the step, i.e. getrusage(RUSAGE_CHILDREN); the stand-in and the proxy are not counted).
- peak extra disk (runbox steps): sampled every 50 ms, the most the work filesystem held above both its state before and after the step (statfs; a restore's own items are not extra, a staged entry is), or the peak size of the job's RUNNER_TEMP if larger.${options.disk ? ' On --disk, statfs sees every other writer on that filesystem too, so the extra disk shown is the RUNNER_TEMP peak alone (the raw figures give both).' : ' The cache blobs live on their own tmpfs and do not count.'}
- bytes: what the stand-in received (uploads) and sent (downloads) during the step, request bodies only; through the capped link, what the proxy forwarded.

## Frames (\`shards: auto\`): how they are cut, and why about 32 MiB

- Cut: items newest registration first (registrationTime, then the DB's row id: times are whole seconds), each frame closed before the item that would take it past FRAME_BYTES (32 MiB of data, each file once, plus 512 bytes a member); an item bigger than that gets a frame of its own (src/store/shards.ts planFrames). The earlier cut, at multiples of total / n of the same order, put a big item and the smaller items after it into one frame: on the 400 MiB bench store (9 frames, three items of 110-340 MiB) restore onto 90% fetched 54.2% of the entry (69.4 MiB, 3 of 9 frames) for items that hold 33% of the data; with the greedy cut it fetches 30.8% (39.5 MiB, 3 of 10 frames), their own bytes and nothing more. (The 20% target is below what the missing items hold on this store: its newest 10% of items by count hold a third of its bytes.)
- Restore: min(cores, 8) lanes, each one confined \`tar -x\` (src/sys/confined.ts; one per entry, so a delta's base gets its own) that takes its frames' canonical streams one after another, each under its own sub-dir made by a dir member of the stream (private-extract.ts extractAll), each frame through its own zstd. Before, every frame cost a \`sudo mkdir\`, a \`sudo tar\` and a zstd: on this 2-core machine \`sudo true\` alone took 30-230 ms a call, depending on the load. A frame now costs a zstd process, one ranged GET and a few headers, which is what lets frames stay small.
- Size: on the bench store, the partial fetch is the same at 8, 16, 32 and 64 MiB (the missing items' own frames; computed from the store's listing); smaller frames pay off on stores whose newest items are small (at most about one frame of bytes is fetched beyond what is missing), bigger ones cost a zstd and a GET less per frame. 32 MiB keeps a 400 MiB store at about 10 frames (5 per lane on 2 cores) and a 3 GiB store at about 96 (MAX_FRAMES); beyond that the frames grow. Frame size not re-measured on a quiet machine (the lanes' numbers were taken at load averages of 12-17).
- Where a full restore's time goes beyond the floor's (\`node scripts/bench-profile.mjs\`: the step's own node process, V8 profiles, and \`perf record\`, 400 MiB): node's own process takes about 1.7-1.9 CPU seconds (4.0 in session 9, 2.5 in session 10; median of 3, on a quiet machine), nearly all on its one main thread, which serves every lane, while zstd and tar, the whole of the floor's work, run beside it on the other core. Every decompressed byte passes through that thread twice: read from zstd (into one reused 256 KiB buffer through a unix socket pair) and written to the confined tar as the canonical stream; the compressed bytes are read off the socket into reused 1 MiB blocks (\`cache-service/range-get.ts\`) and hashed (sha256, about 0.25 s). The floor's \`zstd -dc | tar -x\` moves the bytes kernel to kernel. That is the price of the one reading (runbox re-serializes what it checked), kept on purpose (issue 13: checks are not traded for speed). On this VM most of what was left of node's \"copy\" time was copy-on-write faults: node 20 starts a child with fork(2), after which every page node writes (its reused buffers, 20-50 MiB) faults once per fork, about 18 us a page here; a restore forked a zstd per frame and a save a \`tar | zstd\` per frame while those buffers were rewritten. The stages and commands of a store step are now forked by a small launcher process (\`src/launcher.ts\`), and root's records are written in-process. A save spends about 1.4-1.6 CPU seconds in node (reading zstd's output, hashing, copying into upload blocks, the upload).
- A 400 MiB restore's time line (session 12, \`perf record -a\` binned by 0.2 s): about 0.4 s to start (node loading the bundle, the launcher, the restore lock, index and manifest), 0.3 s more until the lanes' confined tars run (each lane's namespace set up by some 15 short processes: mount, cp, pivot_root...; until session 12 it remounted every writable host mount read-only, one \`mount\` each, which took 0.6 s), 1.8 s of streaming with both cores busy (zstd, tar, node's one thread, and the cache stand-in serving the download), then 0.5 s of about a dozen short root commands in a row (chown, the walk, mv, the DB checks and insert, removing the private dir). The frames go biggest first, so no lane runs a big frame alone at the end. A save: 0.5 s before the first tar (start, DB read, the store listing), then the frames with one single-threaded zstd per core (\`-T1\`'s buffers cost 0.1-0.15 CPU s per frame in page faults here); zstd is most of its CPU.

## Results

${perSize}

<details><summary>Raw figures, every round</summary>

${raw}

</details>

## Running it
- \`npm run bench\`: both sizes (400 MiB and 1.2 GB), 5 rounds, on tmpfs, writes this file; budget ~10 GB of RAM for the tmpfs at 1.2 GB. \`--sizes 400 --rounds 3\`, \`--rate 50\`, \`--disk\`, \`--quick\` (a small store, 2 rounds, writes nothing unless \`--out\`); \`node scripts/bench.mjs --help\` lists every option.
`;
}
