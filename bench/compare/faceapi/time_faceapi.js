// Times face-api.js itself (@vladmandic/face-api on TensorFlow.js with its wasm backend, one thread)
// on photos, stage by stage, from decoded pixels: SSD MobileNetV1 detection, + 68 landmarks, + age and
// gender (face-api.js's default pipeline, detectAllFaces().withFaceLandmarks().withAgeAndGender()).
//   node time_faceapi.js RUNS PHOTO...      (JPEG or PNG; prints one JSON line per photo)
// Each figure is the median of RUNS calls after one warm-up call. Run by bench/compare/time_faceapi.sh.
'use strict';
const fs = require('fs');
const path = require('path');
const jpeg = require('jpeg-js');
const { PNG } = require('pngjs');
const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');

function decode(file) {
  const bytes = fs.readFileSync(file);
  let width, height, rgba;
  if (file.toLowerCase().endsWith('.png')) {
    const png = PNG.sync.read(bytes);
    ({ width, height } = png);
    rgba = png.data;
  } else {
    const img = jpeg.decode(bytes, { useTArray: true });
    ({ width, height } = img);
    rgba = img.data;
  }
  const rgb = new Int32Array(width * height * 3);
  for (let i = 0; i < width * height; i++) for (let c = 0; c < 3; c++) rgb[i * 3 + c] = rgba[i * 4 + c];
  return faceapi.tf.tensor3d(rgb, [height, width, 3], 'int32');
}

function median(v) {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function time(runs, f) {
  await f();  // warm-up
  const t = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    await f();
    t.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return median(t);
}

async function main() {
  const [runsText, ...photos] = process.argv.slice(2);
  const runs = Number(runsText);
  if (!(runs >= 1) || photos.length === 0) throw new Error('usage: node time_faceapi.js RUNS PHOTO...');
  const wasmDir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')) + '/dist/';
  faceapi.tf.setWasmPaths(wasmDir);
  faceapi.tf.setThreadsCount(1);
  await faceapi.tf.setBackend('wasm');
  await faceapi.tf.ready();
  const modelDir = path.dirname(require.resolve('@vladmandic/face-api/package.json')) + '/model';
  await faceapi.nets.ssdMobilenetv1.loadFromDisk(modelDir);
  await faceapi.nets.faceLandmark68Net.loadFromDisk(modelDir);
  await faceapi.nets.ageGenderNet.loadFromDisk(modelDir);
  const options = new faceapi.SsdMobilenetv1Options({ minConfidence: 0.5, maxResults: 100 });
  for (const photo of photos) {
    const t = decode(photo);
    const detect = await time(runs, () => faceapi.detectAllFaces(t, options));
    const landmarks = await time(runs, () => faceapi.detectAllFaces(t, options).withFaceLandmarks());
    let faces = 0;
    const pipeline = await time(runs, async () => {
      faces = (await faceapi.detectAllFaces(t, options).withFaceLandmarks().withAgeAndGender()).length;
    });
    console.log(JSON.stringify({
      photo: path.basename(photo), width: t.shape[1], height: t.shape[0], faces, runs,
      tfjs: faceapi.tf.version_core, backend: faceapi.tf.getBackend(), threads: faceapi.tf.getThreadsCount(),
      ms: { detect, landmarks: landmarks - detect, age_gender: pipeline - landmarks, pipeline },
    }));
    t.dispose();
  }
}

main().catch((e) => {
  console.error('time_faceapi: ' + e.message);
  process.exit(1);
});
