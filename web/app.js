// The demo page: loads the exported model with onnxruntime-web (WebGPU when the browser has an adapter, wasm
// otherwise) and classifies a picked or dropped image with the same classifier, preprocessing and top-k code that
// Node runs (served from dist/src under /lib/), reading the model card stored in the file. The last result is kept
// on window.effnetResult for tests.
import * as ort from '/ort/ort.min.mjs';
import { ImageClassifier } from '/lib/infer/classifier.js';

const $ = (id) => document.getElementById(id);
ort.env.wasm.wasmPaths = '/ort/';
ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;

let classifier = null;
let backend = 'wasm';

function setState(state) {
  document.body.dataset.state = state;
}

function showError(message) {
  const box = $('error');
  box.textContent = message;
  box.hidden = false;
  setState('error');
}

async function pickProviders() {
  if ('gpu' in navigator) {
    try {
      if (await navigator.gpu.requestAdapter()) return ['webgpu', 'wasm'];
    } catch {
      // no usable adapter: fall back to wasm
    }
  }
  return ['wasm'];
}

async function loadModel(bytes, name) {
  $('model-status').textContent = `Loading ${name}…`;
  setState('loading');
  const providers = await pickProviders();
  const next = await ImageClassifier.create(ort, bytes, { source: name, sessionOptions: { executionProviders: providers }, maxBatch: 1 });
  if (classifier) await classifier.release();
  classifier = next;
  backend = providers[0];
  const info = classifier.info;
  // The model card in the file says how to prepare images: the same eval transform training validated with.
  const crop = info.cropPct === 1 ? 'whole image' : `resize ${Math.floor(info.inputSize / info.cropPct)}, center crop ${info.inputSize}`;
  $('model-status').textContent = `${name}: EfficientNet ${info.variant}, ${info.numClasses} classes, ${info.inputSize}px input, on ${backend} (eval: ${crop})`;
  setState('ready');
}

async function decode(file) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { colorSpaceConversion: 'none', premultiplyAlpha: 'none', imageOrientation: 'from-image' });
  } catch (error) {
    throw new Error(`cannot decode ${file.name} (${file.size} bytes): the file is corrupt, truncated or not an image`);
  }
  const { width, height } = bitmap;
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext('2d', { willReadFrequently: true });
  context.drawImage(bitmap, 0, 0);
  const rgba = context.getImageData(0, 0, width, height).data;
  bitmap.close();
  const n = rgba.length / 4;
  const data = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    data[i * 3] = rgba[i * 4];
    data[i * 3 + 1] = rgba[i * 4 + 1];
    data[i * 3 + 2] = rgba[i * 4 + 2];
  }
  return { data, width, height };
}

function render(result, ms) {
  const list = $('top');
  list.replaceChildren();
  for (const p of result.top) {
    const item = document.createElement('li');
    const row = document.createElement('div');
    row.className = 'row';
    const label = document.createElement('span');
    label.textContent = p.label;
    const value = document.createElement('span');
    value.textContent = `${(p.probability * 100).toFixed(2)}%`;
    row.append(label, value);
    const bar = document.createElement('div');
    bar.className = 'bar';
    const fill = document.createElement('span');
    fill.style.width = `${Math.max(0.5, p.probability * 100).toFixed(2)}%`;
    bar.append(fill);
    item.append(row, bar);
    list.append(item);
  }
  const notes = result.warnings.length ? ` · ${result.warnings.join('; ')}` : '';
  $('timing').textContent = `${ms.total.toFixed(1)} ms (preprocessing ${ms.preprocess.toFixed(1)} ms, inference ${ms.inference.toFixed(1)} ms) on ${backend}${notes}`;
  $('result').hidden = false;
}

async function classifyFile(file) {
  $('error').hidden = true;
  if (!classifier) {
    showError('No model is loaded yet: pick an .onnx file above (or start `effnet serve-demo --model MODEL`).');
    return;
  }
  setState('busy');
  try {
    const image = await decode(file);
    $('preview').src = URL.createObjectURL(file);
    $('preview').hidden = false;
    const t0 = performance.now();
    const input = classifier.preprocessor.batch([image]);
    const t1 = performance.now();
    const logits = await classifier.logits(input, 1);
    const t2 = performance.now();
    const [result] = classifier.classifyLogits([image], logits, 5);
    const ms = { preprocess: t1 - t0, inference: t2 - t1, total: t2 - t0 };
    render(result, ms);
    window.effnetResult = { top: result.top, warnings: result.warnings, ms, backend, file: file.name };
    setState('done');
  } catch (error) {
    showError(error instanceof Error ? error.message : String(error));
  }
}

$('image-input').addEventListener('change', (event) => {
  const file = event.target.files[0];
  if (file) void classifyFile(file);
});
$('model-input').addEventListener('change', async (event) => {
  const file = event.target.files[0];
  if (!file) return;
  try {
    await loadModel(new Uint8Array(await file.arrayBuffer()), file.name);
  } catch (error) {
    showError(error instanceof Error ? error.message : String(error));
  }
});
const drop = $('drop');
drop.addEventListener('dragover', (event) => {
  event.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (event) => {
  event.preventDefault();
  drop.classList.remove('over');
  const file = event.dataTransfer.files[0];
  if (file) void classifyFile(file);
});

(async () => {
  try {
    const response = await fetch('/model.onnx');
    if (!response.ok) {
      $('model-status').textContent = 'No model given to the server: pick an .onnx file.';
      setState('no-model');
      return;
    }
    await loadModel(new Uint8Array(await response.arrayBuffer()), 'model.onnx');
  } catch (error) {
    showError(`Could not load the model: ${error instanceof Error ? error.message : String(error)}`);
  }
})();
