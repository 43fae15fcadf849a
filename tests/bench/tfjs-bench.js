#!/usr/bin/env node
// tfjs-bench.js - time the original @vladmandic/face-api 1.7.15 detectors on tfjs-backend-wasm
// (SIMD on, 1 thread): TinyFaceDetector 320/416/608 and SsdMobilenetv1 (512).
//
// Normally run via tests/bench/tfjs-bench.sh. Direct use:
//   node tfjs-bench.js --node-ref DIR --models DIR --image FILE.{jpg,ppm}
//        [--runs 20] [--warmup 3] [--only tiny-face|ssd-mobilenetv1] [--modes net,incl_resize[,detect]]
//
// stdout: one JSON line per (model, input size, mode), nothing else:
//   {"model":"tiny-face","input_size":416,"mode":"net","p50_ms":..,"p99_ms":..,"mean_ms":..,...}
// modes (every timed call ends by reading the output data back to JS, as real use must):
//   net         - forward on a prepared tensor: the image already padded to a square and resized
//                 to input_size (float32 [S,S,3]); includes normalisation, the network, (SSD: the
//                 outputLayer box decode face-api does inside forwardInput), and the output read.
//   incl_resize - same call on the full-size int32 [H,W,3] image tensor: adds pad + resizeBilinear.
//   detect      - (only if asked for) full locateFaces(): incl_resize + box decoding + NMS.
// Percentiles: linear interpolation between order statistics (numpy default); with 20 runs p99
// is close to the max.
'use strict';

const fs = require('fs');
const path = require('path');

function parseArgs(argv) {
  const a = { runs: '20', warmup: '3', modes: 'net,incl_resize' };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (!k.startsWith('--') || i + 1 >= argv.length) throw new Error(`bad argument ${k}`);
    a[k.slice(2)] = argv[++i];
  }
  for (const k of ['node-ref', 'models', 'image']) if (!a[k]) throw new Error(`missing --${k}`);
  return a;
}

const args = parseArgs(process.argv.slice(2));
const runs = parseInt(args.runs, 10);
const warmup = parseInt(args.warmup, 10);
if (!(runs >= 1) || !(warmup >= 0)) throw new Error('--runs must be >= 1 and --warmup >= 0');
const modes = args.modes.split(',');
for (const m of modes) if (!['net', 'incl_resize', 'detect'].includes(m)) throw new Error(`unknown mode ${m}`);

const nodeRef = path.resolve(args['node-ref']);
const req = (m) => require(require.resolve(m, { paths: [nodeRef] }));

// keep stdout for the JSON lines only
const origLog = console.log;
console.log = (...x) => console.error(...x);

const tf = req('@tensorflow/tfjs');
const wasm = req('@tensorflow/tfjs-backend-wasm');
const faceapi = req('@vladmandic/face-api/dist/face-api.node-wasm.js');
const jpeg = req('jpeg-js');

function loadImage(file) {
  const buf = fs.readFileSync(file);
  if (buf.subarray(0, 2).toString('latin1') === 'P6') {
    const m = /^P6\s+(\d+)\s+(\d+)\s+(\d+)\s/.exec(buf.subarray(0, 64).toString('latin1'));
    if (!m || m[3] !== '255') throw new Error(`${file}: not an 8-bit P6 PPM`);
    const width = +m[1];
    const height = +m[2];
    const data = buf.subarray(m[0].length, m[0].length + width * height * 3);
    if (data.length !== width * height * 3) throw new Error(`${file}: truncated`);
    return { width, height, data };
  }
  const img = jpeg.decode(buf, { useTArray: true, formatAsRGBA: false });
  return { width: img.width, height: img.height, data: img.data };
}

function percentile(sorted, p) {
  const pos = (sorted.length - 1) * p;
  const lo = Math.floor(pos);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

async function time(fn) {
  for (let i = 0; i < warmup; i++) await fn();
  const t = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    t.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const s = t.slice().sort((a, b) => a - b);
  const r3 = (v) => Math.round(v * 1000) / 1000;
  return {
    p50_ms: r3(percentile(s, 0.5)),
    p99_ms: r3(percentile(s, 0.99)),
    mean_ms: r3(t.reduce((a, b) => a + b, 0) / t.length),
    min_ms: r3(s[0]),
    max_ms: r3(s[s.length - 1]),
  };
}

// pad (zeros bottom/right) + resize exactly as NetInput.toBatchTensor(S, false) -> float32 [S,S,3]
async function prepare(img, S) {
  const ni = await faceapi.toNetInput(img);
  return tf.tidy(() => tf.cast(ni.toBatchTensor(S, false), 'float32').reshape([S, S, 3]));
}

async function main() {
  const wasmDir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json', { paths: [nodeRef] })) + '/dist/';
  tf.env().set('WASM_HAS_SIMD_SUPPORT', true);
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  wasm.setWasmPaths(wasmDir);
  if (!(await tf.setBackend('wasm'))) throw new Error('cannot initialise the tfjs wasm backend');
  await tf.ready();
  if (faceapi.tf.getBackend() !== 'wasm') throw new Error('face-api is not using the wasm backend');
  await faceapi.nets.tinyFaceDetector.loadFromDisk(args.models);
  await faceapi.nets.ssdMobilenetv1.loadFromDisk(args.models);

  const imgData = loadImage(args.image);
  const img = tf.tensor3d(Int32Array.from(imgData.data), [imgData.height, imgData.width, 3], 'int32');
  const common = {
    backend: 'tfjs-wasm',
    simd: tf.env().getBool('WASM_HAS_SIMD_SUPPORT'),
    threads: 1,
    tfjs: tf.version.tfjs || tf.version_core,
    'face-api': '1.7.15',
    image: path.basename(args.image),
    width: imgData.width,
    height: imgData.height,
    runs,
    warmup,
  };
  const emit = (o) => process.stdout.write(JSON.stringify({ ...o, ...common }) + '\n');

  const tiny = faceapi.nets.tinyFaceDetector;
  const ssd = faceapi.nets.ssdMobilenetv1;
  const only = args.only;

  if (!only || only === 'tiny-face') {
    for (const S of [320, 416, 608]) {
      const prep = await prepare(img, S);
      const runTiny = async (input) => {
        const out = await tiny.forward(input, S);
        await out.data();
        out.dispose();
      };
      for (const mode of modes) {
        let fn;
        if (mode === 'net') fn = () => runTiny(prep);
        else if (mode === 'incl_resize') fn = () => runTiny(img);
        else fn = () => tiny.locateFaces(img, new faceapi.TinyFaceDetectorOptions({ inputSize: S, scoreThreshold: 0.5 }));
        emit({ model: 'tiny-face', input_size: S, mode, ...(await time(fn)) });
      }
      prep.dispose();
    }
  }
  if (!only || only === 'ssd-mobilenetv1') {
    const S = 512;
    const prep = await prepare(img, S);
    const runSsd = async (input) => {
      const { boxes, scores } = ssd.forwardInput(await faceapi.toNetInput(input));
      await Promise.all([boxes[0].data(), scores[0].data()]);
      tf.dispose([boxes, scores]);
    };
    for (const mode of modes) {
      let fn;
      if (mode === 'net') fn = () => runSsd(prep);
      else if (mode === 'incl_resize') fn = () => runSsd(img);
      else fn = () => ssd.locateFaces(img, new faceapi.SsdMobilenetv1Options({ minConfidence: 0.5, maxResults: 100 }));
      emit({ model: 'ssd-mobilenetv1', input_size: S, mode, ...(await time(fn)) });
    }
    prep.dispose();
  }
  img.dispose();
  if (tf.memory().numTensors > 200) console.error(`warning: ${tf.memory().numTensors} tensors alive (leak?)`);
}

main().catch((e) => {
  console.error(`tfjs-bench.js: error: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
}).finally(() => { console.log = origLog; });
