// The driver: starts the shared mock, runs every workload for every system with interleaved
// repetitions, prints a table of medians (min–max) with ratios against freehold, and writes every raw
// measurement to $OUT/results.jsonl. Invoked by run.sh; knobs are environment variables:
//   FREEHOLD (binary), REPS (5), LOOP_RUNS_FH (200), LOOP_RUNS_PEER (30), LOOP_WARM (5),
//   FANOUT (1000), COLD_REPS (REPS*2), TIMEOUT_S (300), FH_TIMEOUT_S (60), OUT (dir),
//   ONLY (comma list of workloads), SYSTEMS (comma list of systems).
//   `node run.mjs --table A.jsonl [B.jsonl ...]` prints the table of earlier runs.
import {spawn} from 'node:child_process';
import {performance} from 'node:perf_hooks';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../../..');
const env = process.env;
const FREEHOLD = path.resolve(env.FREEHOLD ?? path.join(repo, 'build/release/apps/freehold/freehold'));
const REPS = Number(env.REPS ?? 5);
const LOOP_RUNS_FH = Number(env.LOOP_RUNS_FH ?? 200);
const LOOP_RUNS_PEER = Number(env.LOOP_RUNS_PEER ?? 30);
const LOOP_WARM = Number(env.LOOP_WARM ?? 5);
const FANOUT = Number(env.FANOUT ?? 1000);
const COLD_REPS = Number(env.COLD_REPS ?? REPS * 2);
const TIMEOUT_S = Number(env.TIMEOUT_S ?? 300);
const FH_TIMEOUT_S = Number(env.FH_TIMEOUT_S ?? 60); // freehold's runs take seconds; a hang is a failure
const OUT = env.OUT ?? fs.mkdtempSync(path.join(os.tmpdir(), 'fh-peers-'));
const ONLY = env.ONLY ? env.ONLY.split(',') : ['loop', 'fanout', 'cold', 'stream'];
fs.mkdirSync(OUT, {recursive: true});
const resultsFile = path.join(OUT, 'results.jsonl');
const ALL_SYSTEMS = ['freehold', 'langgraph', 'agents', 'ai', 'raw'];
const SYSTEMS = env.SYSTEMS ? env.SYSTEMS.split(',').filter((x) => ALL_SYSTEMS.includes(x)) : ALL_SYSTEMS;

// ---- process helpers
function exec(cmd, args, {envExtra = {}, onStderrLine, timeoutS} = {}) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, {cwd: here, env: {...env, ...envExtra}, stdio: ['ignore', 'pipe', 'pipe']});
    let stdout = '';
    let stderr = '';
    let pending = '';
    const limit = timeoutS ?? (args.includes(FREEHOLD) || cmd === FREEHOLD ? FH_TIMEOUT_S : TIMEOUT_S);
    const timer = setTimeout(() => { child.kill('SIGKILL'); stderr += `\n(timed out after ${limit} s)`; }, limit * 1000);
    child.stdout.on('data', (b) => { stdout += b; });
    child.stderr.on('data', (b) => {
      const now = performance.now();
      stderr += b;
      if (!onStderrLine) return;
      pending += b;
      let at;
      while ((at = pending.indexOf('\n')) >= 0) {
        onStderrLine(pending.slice(0, at), now);
        pending = pending.slice(at + 1);
      }
    });
    child.on('error', (e) => { stderr += `\n${e.message}`; }); // e.g. ENOENT: reported as a failure
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({code, signal, wall_ms: performance.now() - t0, stdout, stderr});
    });
  });
}

function lastJson(s) {
  const lines = s.trim().split('\n').reverse();
  for (const l of lines) { try { return JSON.parse(l); } catch { /* not json */ } }
  return null;
}

function failure(r) {
  const why = r.signal ? `killed ${r.signal}` : `exit ${r.code}`;
  const tail = (r.stderr || '').trim().split('\n').slice(-2).join(' | ').slice(0, 200);
  return {error: `${why}${tail ? ': ' + tail : ''}`};
}

// /usr/bin/time -v around a command: peak RSS, CPU seconds.
async function timed(cmd, args, opts) {
  const tf = path.join(OUT, `time-${process.pid}-${Math.random().toString(36).slice(2)}.txt`);
  const r = await exec('/usr/bin/time', ['-v', '-o', tf, cmd, ...args], opts);
  let t = '';
  try { t = fs.readFileSync(tf, 'utf8'); fs.unlinkSync(tf); } catch { /* no file */ }
  const num = (re) => { const m = re.exec(t); return m ? Number(m[1]) : NaN; };
  r.rss_mb = num(/Maximum resident set size \(kbytes\): (\d+)/) / 1024;
  r.cpu_s = num(/User time \(seconds\): ([\d.]+)/) + num(/System time \(seconds\): ([\d.]+)/);
  return r;
}

// `node run.mjs --table results.jsonl` only prints the table of an earlier (or unfinished) run.
const tableOnly = process.argv[2] === '--table' ? process.argv.slice(3) : null;
const results = [];
if (tableOnly) {
  for (const f of tableOnly)
    for (const l of fs.readFileSync(f, 'utf8').split('\n')) if (l.trim()) results.push(JSON.parse(l));
} else {
  await runAll();
}

async function runAll() {
// ---- the mock
let mockPort = 0;
const mock = spawn(process.execPath, [path.join(here, 'mock-server.mjs'), '0'], {stdio: ['ignore', 'pipe', 'inherit']});
await new Promise((resolve, reject) => {
  mock.stdout.on('data', (b) => {
    const m = /listening (\d+)/.exec(String(b));
    if (m) { mockPort = Number(m[1]); resolve(); }
  });
  mock.on('exit', () => reject(new Error('mock server exited')));
});
const base = `http://127.0.0.1:${mockPort}`;
const mockStats = async () => (await fetch(`${base}/stats`)).json();
const fhEnv = (scen) => ({OPENAI_API_KEY: 'x', OPENAI_BASE_URL: `${base}${scen}/v1`});
const FH_HTTP_MODEL = 'openai/mock-model';
const FH_SCRIPT_MODEL = `mock/script?file=${path.join(here, 'freehold', 'loop.replies.json')}`;
const fhRun = (plan, input, extra = []) =>
  ['run', path.join(here, 'freehold', plan), '--input', JSON.stringify(input), '--json', '--memory', '2048', ...extra];
const peerArgs = (sys, wl, backend, extra = []) => [path.join(here, 'peer.mjs'), sys, wl, backend, '--base', base, ...extra];

// ---- one measurement of each kind; each returns a flat record (or {error})
async function loopOnce(sys, backend) {
  if (sys === 'raw' && backend === 'inproc') return null;
  if (sys === 'freehold') {
    const model = backend === 'http' ? FH_HTTP_MODEL : FH_SCRIPT_MODEL;
    const envExtra = fhEnv('/s/10/0/0');
    const r0 = await exec(FREEHOLD, fhRun('loop.lua', {model, runs: 0}), {envExtra});
    if (r0.code !== 0) return failure(r0);
    const s0 = await mockStats();
    const r1 = await exec(FREEHOLD, fhRun('loop.lua', {model, runs: LOOP_RUNS_FH}), {envExtra});
    const s1 = await mockStats();
    if (r1.code !== 0) return failure(r1);
    const out = lastJson(r1.stdout);
    const calls = LOOP_RUNS_FH * 11;
    const mockMs = backend === 'http' ? s1.busy_ms - s0.busy_ms : 0;
    return {us_per_step: ((r1.wall_ms - r0.wall_ms - mockMs) * 1000) / calls, cpu_us_per_step: (out.cpu_s * 1e6) / calls,
            mock_us_per_step: (mockMs * 1000) / calls, calls};
  }
  const r = await exec(process.execPath, peerArgs(sys, 'loop', backend, ['--runs', String(LOOP_RUNS_PEER), '--warm', String(LOOP_WARM)]));
  const out = r.code === 0 ? lastJson(r.stdout) : null;
  if (!out) return failure(r);
  return {us_per_step: ((out.wall_ms - out.mock_ms) * 1000) / out.calls, cpu_us_per_step: (out.cpu_ms * 1000) / out.calls,
          mock_us_per_step: (out.mock_ms * 1000) / out.calls, calls: out.calls};
}

async function fanoutOnce(sys, backend) {
  if (sys === 'raw' && backend === 'inproc') return null;
  const fhModel = backend === 'http' ? FH_HTTP_MODEL
    : `mock/script?file=${path.join(here, 'freehold', 'fanout.replies.json')}&latency_ms=50`;
  const r = sys === 'freehold'
    ? await timed(FREEHOLD, fhRun('fanout.lua', {model: fhModel, runs: FANOUT}), {envExtra: fhEnv('/s/4/50/0')})
    : await timed(process.execPath, peerArgs(sys, 'fanout', backend, ['--runs', String(FANOUT)]));
  if (r.code !== 0) return failure(r);
  const out = lastJson(r.stdout) ?? {};
  let runWall = out.wall_ms ?? null;
  if (sys === 'freehold') { // no wall clock inside a plan: subtract the same process with runs = 0
    const r0 = await exec(FREEHOLD, fhRun('fanout.lua', {model: fhModel, runs: 0}), {envExtra: fhEnv('/s/4/50/0')});
    if (r0.code === 0) runWall = r.wall_ms - r0.wall_ms;
  }
  return {process_wall_ms: r.wall_ms, run_wall_ms: runWall, rss_mb: r.rss_mb, cpu_s: r.cpu_s};
}

async function coldOnce(sys) {
  const r = sys === 'freehold'
    ? await exec(FREEHOLD, fhRun('cold.lua', {model: FH_HTTP_MODEL}), {envExtra: fhEnv('/s/0/0/0')})
    : await exec(process.execPath, peerArgs(sys, 'cold', 'http'));
  if (r.code !== 0) return failure(r);
  return {wall_ms: r.wall_ms};
}

async function streamOnce(sys) {
  if (sys !== 'freehold') {
    const r = await exec(process.execPath, peerArgs(sys, 'stream', 'http'));
    const out = r.code === 0 ? lastJson(r.stdout) : null;
    if (!out) return failure(r);
    return {ttft_ms: out.ttft_ms, total_ms: out.total_ms, deltas: out.deltas};
  }
  // freehold: the plan emits start / first / done; their arrival on stderr is timestamped here.
  const marks = {};
  const r = await exec(FREEHOLD, fhRun('stream.lua', {model: FH_HTTP_MODEL}), {
    envExtra: fhEnv('/s/0/0/2000'),
    onStderrLine: (line, t) => {
      const m = /^\[emit\] (.*)$/.exec(line);
      if (!m) return;
      try { const d = JSON.parse(m[1]); marks[d.ev] = t; if (d.deltas) marks.deltas = d.deltas; } catch { /* ignore */ }
    },
  });
  if (!marks.start || !marks.first || !marks.done) return failure(r);
  // The plan finished its measured part; a crash after it (at exit) is recorded, not hidden.
  const rec = {ttft_ms: marks.first - marks.start, total_ms: marks.done - marks.start, deltas: marks.deltas};
  if (r.code !== 0) rec.crashed_after = failure(r).error.slice(0, 80);
  return rec;
}

// ---- interleaved repetitions
function record(workload, variant, system, rep, rec) {
  if (!rec) return;
  const row = {workload, variant, system, rep, ...rec};
  results.push(row);
  fs.appendFileSync(resultsFile, JSON.stringify(row) + '\n');
  const brief = Object.entries(rec).map(([k, v]) => `${k}=${typeof v === 'number' ? v.toFixed(1) : v}`).join(' ');
  process.stderr.write(`[${workload}/${variant}] ${system} #${rep}: ${brief}\n`);
}
const rotate = (arr, k) => arr.map((_, i) => arr[(i + k) % arr.length]);

process.stderr.write(`freehold: ${FREEHOLD}\nmock: ${base}  out: ${OUT}  reps: ${REPS}\n`);
for (let rep = 0; rep < Math.max(REPS, COLD_REPS); rep++) {
  const order = rotate(SYSTEMS, rep);
  for (const sys of order) {
    if (rep < REPS) {
      if (ONLY.includes('loop')) {
        record('loop', 'inproc', sys, rep, await loopOnce(sys, 'inproc'));
        record('loop', 'http', sys, rep, await loopOnce(sys, 'http'));
      }
      if (ONLY.includes('stream')) record('stream', 'http', sys, rep, await streamOnce(sys));
      if (ONLY.includes('fanout')) {
        record('fanout', 'inproc', sys, rep, await fanoutOnce(sys, 'inproc'));
        record('fanout', 'http', sys, rep, await fanoutOnce(sys, 'http'));
      }
    }
    if (ONLY.includes('cold')) record('cold', 'http', sys, rep, await coldOnce(sys));
  }
}
mock.kill();
process.stderr.write(`raw results: ${resultsFile}\n`);
}

// ---- the table
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const n = s.length; return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2; };
const fmt = (v) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2));
const METRICS = [
  ['loop', 'inproc', 'us_per_step', 'loop, in-process model: µs/step (wall)'],
  ['loop', 'inproc', 'cpu_us_per_step', 'loop, in-process model: CPU µs/step'],
  ['loop', 'http', 'us_per_step', 'loop, HTTP mock: µs/step (wall − mock)'],
  ['loop', 'http', 'cpu_us_per_step', 'loop, HTTP mock: CPU µs/step'],
  ['fanout', 'inproc', 'process_wall_ms', `fan-out ${FANOUT}×5, in-process model @50 ms: process wall ms`],
  ['fanout', 'inproc', 'run_wall_ms', `fan-out, in-process: wall ms after start-up (ideal 250)`],
  ['fanout', 'inproc', 'rss_mb', 'fan-out, in-process: peak RSS MiB'],
  ['fanout', 'inproc', 'cpu_s', 'fan-out, in-process: CPU s (user+sys)'],
  ['fanout', 'http', 'process_wall_ms', `fan-out ${FANOUT}×5, HTTP mock @50 ms: process wall ms`],
  ['fanout', 'http', 'run_wall_ms', `fan-out: wall ms after start-up (ideal 250)`],
  ['fanout', 'http', 'rss_mb', 'fan-out: peak RSS MiB'],
  ['fanout', 'http', 'cpu_s', 'fan-out: CPU s (user+sys)'],
  ['cold', 'http', 'wall_ms', 'cold start, one-step agent: ms'],
  ['stream', 'http', 'ttft_ms', 'stream 2000 tokens: TTFT ms'],
  ['stream', 'http', 'total_ms', 'stream 2000 tokens: total ms'],
];
const cell = (wl, variant, metric, sys) => {
  const rows = results.filter((r) => r.workload === wl && r.variant === variant && r.system === sys);
  const vals = rows.map((r) => r[metric]).filter((v) => typeof v === 'number' && Number.isFinite(v));
  const errs = rows.filter((r) => r.error);
  if (!vals.length) return {text: errs.length ? `fails (${errs[0].error.split(':')[0]})` : 'n/a'};
  const med = median(vals);
  const crashed = rows.filter((r) => r.crashed_after).length;
  return {med, text: `${fmt(med)} (${fmt(Math.min(...vals))}–${fmt(Math.max(...vals))})${errs.length ? ` [${errs.length} failed]` : ''}${crashed ? ` [crashed at exit ${crashed}/${rows.length}]` : ''}`};
};
const lines = [];
lines.push(`| workload | ${ALL_SYSTEMS.join(' | ')} |`);
lines.push(`|---|${ALL_SYSTEMS.map(() => '---').join('|')}|`);
for (const [wl, variant, metric, label] of METRICS) {
  if (!ONLY.includes(wl)) continue;
  const fh = cell(wl, variant, metric, 'freehold');
  const cells = ALL_SYSTEMS.map((sys) => {
    const c = cell(wl, variant, metric, sys);
    if (sys === 'freehold' || fh.med === undefined || c.med === undefined || fh.med <= 0) return c.text;
    return `${c.text} **${(c.med / fh.med).toFixed(c.med / fh.med >= 10 ? 0 : 1)}×**`;
  });
  lines.push(`| ${label} | ${cells.join(' | ')} |`);
}
const table = lines.join('\n');
if (!tableOnly) fs.writeFileSync(path.join(OUT, 'table.md'), table + '\n');
process.stdout.write(table + '\n');
