// Checks one QDQ model with ONNX Runtime: loads it (ORT's acceptance of the file is the first
// check), runs it on a raw float32 input and compares ORT's output with nnjoule's output for the
// same input (and, given, the float model's), at two ORT optimisation levels:
//   "disabled": the QDQ graph as written (float ops between DequantizeLinear and
//               QuantizeLinear, ONNX's definition of the model);
//   "all":      ORT's QDQ fusions into its int8 kernels (QLinearConv, ...), what a deployment runs.
//
//   node bench/ort/qdq_check.js MODEL --input X.bin --nnjoule Y.bin [--float F.bin]
//
// Prints one JSON line; exits 1 naming the file when ORT rejects it or a size differs.
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

function parse(argv) {
  const a = {model: null, input: null, nnjoule: null, float: null};
  for (let i = 0; i < argv.length; ++i) {
    const k = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${k} needs a value`);
      return argv[++i];
    };
    if (k === '--input') a.input = next();
    else if (k === '--nnjoule') a.nnjoule = next();
    else if (k === '--float') a.float = next();
    else if (k.startsWith('--')) throw new Error(`unknown option ${k}`);
    else a.model = k;
  }
  if (!a.model || !a.input || !a.nnjoule) throw new Error('MODEL, --input and --nnjoule needed');
  return a;
}

function floats(path) {
  const buf = fs.readFileSync(path);
  if (buf.length % 4) throw new Error(`${path}: ${buf.length} bytes is not whole float32s`);
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
}

// max |a - b| relative to b's range, SNR of a against b in dB, whether the argmaxes agree.
function compare(a, b, what) {
  if (a.length !== b.length) throw new Error(`${what}: ${a.length} vs ${b.length} values`);
  let lo = Infinity, hi = -Infinity, maxdiff = 0, sig = 0, noise = 0, ia = 0, ib = 0;
  for (let i = 0; i < a.length; ++i) {
    lo = Math.min(lo, b[i]);
    hi = Math.max(hi, b[i]);
    const d = a[i] - b[i];
    maxdiff = Math.max(maxdiff, Math.abs(d));
    sig += b[i] * b[i];
    noise += d * d;
    if (a[i] > a[ia]) ia = i;
    if (b[i] > b[ib]) ib = i;
  }
  return {
    max_abs_diff: maxdiff,
    range: hi - lo,
    max_diff_of_range: maxdiff / (hi - lo),
    snr_db: noise === 0 ? null : 10 * Math.log10(sig / noise),
    same_argmax: ia === ib,
  };
}

async function run(model, x, level) {
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: level,
  });
  if (session.inputNames.length !== 1) throw new Error(`${model}: one input expected`);
  const meta = session.inputMetadata ? session.inputMetadata[0] : null;
  const shape = meta && meta.shape ? meta.shape.map(Number) : null;
  if (!shape || shape.some((d) => !(d > 0))) throw new Error(`${model}: no static input shape`);
  if (shape.reduce((p, d) => p * d, 1) !== x.length) {
    throw new Error(`${model}: input [${shape}] does not match ${x.length} values`);
  }
  const out = await session.run({[session.inputNames[0]]: new ort.Tensor('float32', x, shape)});
  return out[session.outputNames[0]].data;
}

async function main() {
  const a = parse(process.argv.slice(2));
  const x = floats(a.input);
  const nn = floats(a.nnjoule);
  const fl = a.float ? floats(a.float) : null;
  const result = {model: a.model, accepted: false, runtime: 'onnxruntime-node'};
  const versions = ort.env && ort.env.versions ? ort.env.versions : {};
  result.version = versions.common || versions.node || null;
  for (const level of ['disabled', 'all']) {
    let y;
    try {
      y = await run(a.model, x, level);
    } catch (e) {
      throw new Error(`${a.model}: ONNX Runtime (${level}) rejected it: ${e.message}`);
    }
    result.accepted = true;
    result[level] = {nnjoule_vs_ort: compare(nn, y, 'nnjoule vs ort')};
    if (fl) result[level].ort_int8_vs_float = compare(y, fl, 'ort vs float');
  }
  if (fl) result.nnjoule_int8_vs_float = compare(nn, fl, 'nnjoule vs float');
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((e) => {
  process.stderr.write(`qdq_check: ${e.message}\n`);
  process.exit(1);
});
