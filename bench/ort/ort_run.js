// Runs one ONNX model on ONNX Runtime (the official CPU build from npm) the way `nnjoule run`
// does: inputs from raw float32 files, warm-up runs, timed runs on a monotonic clock; prints
// JSON with the samples and writes the outputs as raw float32.
//
//   node bench/ort/ort_run.js MODEL --threads N --runs R --warmup W --input X.bin \
//       [--output Y.bin ...] [--profile PREFIX]
//
// Session options follow docs/execution.md: intra-op threads N, one inter-op thread,
// sequential execution, every graph optimisation. With --profile ONNX Runtime writes its
// per-node trace (JSON) to PREFIX_<date>.json and the path is printed in the JSON.
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

function parse(argv) {
  const a = {threads: 1, runs: 10, warmup: 3, input: [], output: [], profile: null, model: null};
  for (let i = 0; i < argv.length; ++i) {
    const k = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${k} needs a value`);
      return argv[++i];
    };
    if (k === '--threads') a.threads = parseInt(next(), 10);
    else if (k === '--runs') a.runs = parseInt(next(), 10);
    else if (k === '--warmup') a.warmup = parseInt(next(), 10);
    else if (k === '--input') a.input.push(next());
    else if (k === '--output') a.output.push(next());
    else if (k === '--profile') a.profile = next();
    else if (k.startsWith('--')) throw new Error(`unknown option ${k}`);
    else a.model = k;
  }
  if (!a.model) throw new Error('no model given');
  if (!(a.threads >= 1 && a.runs >= 1 && a.warmup >= 0)) throw new Error('bad counts');
  return a;
}

async function main() {
  const a = parse(process.argv.slice(2));
  const options = {
    intraOpNumThreads: a.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  };
  if (a.profile) {
    options.enableProfiling = true;
    options.profileFilePrefix = a.profile;
  }
  const session = await ort.InferenceSession.create(a.model, options);
  if (a.input.length !== session.inputNames.length) {
    throw new Error(`${a.model} has ${session.inputNames.length} inputs, ` +
                    `${a.input.length} --input files given`);
  }
  const feeds = {};
  session.inputNames.forEach((name, i) => {
    const meta = session.inputMetadata ? session.inputMetadata[i] : null;
    const buf = fs.readFileSync(a.input[i]);
    const data = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
    let shape = meta && meta.shape ? meta.shape.map(Number) : null;
    if (!shape || shape.some((d) => !(d > 0))) throw new Error(`input ${name}: no static shape`);
    const want = shape.reduce((x, y) => x * y, 1);
    if (want !== data.length) {
      throw new Error(`input ${name} [${shape}] needs ${want * 4} bytes, ` +
                      `${a.input[i]} has ${buf.length}`);
    }
    feeds[name] = new ort.Tensor('float32', data, shape);
  });
  let out = null;
  for (let i = 0; i < a.warmup; ++i) out = await session.run(feeds);
  const samples = [];
  for (let i = 0; i < a.runs; ++i) {
    const t0 = process.hrtime.bigint();
    out = await session.run(feeds);
    samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  a.output.forEach((path, k) => {
    const t = out[session.outputNames[k]];
    fs.writeFileSync(path, Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  });
  let profile = null;
  if (a.profile) {
    // The Node binding does not return the trace's name: it is PREFIX_<date>.json, the newest.
    session.endProfiling();
    const path = require('path');
    const dir = path.dirname(a.profile), base = path.basename(a.profile) + '_';
    const found = fs.readdirSync(dir)
                      .filter((f) => f.startsWith(base) && f.endsWith('.json'))
                      .map((f) => path.join(dir, f))
                      .sort((x, y) => fs.statSync(y).mtimeMs - fs.statSync(x).mtimeMs);
    if (!found.length) throw new Error(`no profile written for prefix ${a.profile}`);
    profile = found[0];
  }
  const versions = ort.env && ort.env.versions ? ort.env.versions : {};
  process.stdout.write(JSON.stringify({
    runtime: 'onnxruntime-node',
    version: versions.common || versions.node || null,
    threads: a.threads,
    samples_ms: samples,
    profile,
  }) + '\n');
}

main().catch((e) => {
  process.stderr.write(`ort_run: ${e.message}\n`);
  process.exit(1);
});
