/**
 * A tour of effnet's API from another project (`npm install effnet`, then `import … from 'effnet'`): profile the
 * family analytically, describe a small model with a model card, train it for two epochs on synthetic images,
 * save it, export it to ONNX and classify an image with ONNX Runtime, which prepares the image with the card's eval
 * transform, the one training validated with. The test suite type-checks and runs this file from a fresh project
 * (test/package/consumer.test.ts).
 *
 *   node quick-tour.js [OUT_DIR]
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ImageClassifier,
  Trainer,
  buildRun,
  configOfCard,
  describeCard,
  exportEfficientNet,
  loadModel,
  networkSpec,
  nodeRuntime,
  openData,
  profileNetwork,
  resolveModelCard,
  saveModel,
  stagesOfCard,
} from 'effnet';

const out = process.argv[2] ?? mkdtempSync(join(tmpdir(), 'effnet-tour-'));

// 1. The family, analytically: params and multiply-adds of B0..B3 at their own resolutions, without building a model.
for (const name of ['b0', 'b1', 'b2', 'b3']) {
  const card = resolveModelCard({ source: { kind: 'variant', name }, classes: 1000 });
  const profile = profileNetwork(networkSpec(configOfCard(card), stagesOfCard(card)), { imageSize: card.architecture.resolution, numClasses: 1000 });
  console.log(`${name}: ${(profile.params / 1e6).toFixed(2)}M params, ${(profile.macs / 1e9).toFixed(3)}B MACs at ${card.architecture.resolution}px`);
}

// 2. A small model for 32px images of three classes: the card says the network and how to prepare images for it.
const data = await openData('synthetic:train=96,val=48,classes=3,size=32');
const card = resolveModelCard({ source: { kind: 'custom', width: 0.25, depth: 0.25 }, resolution: 32, classes: data.classes });
console.log(`model card: ${describeCard(card)}`);

// 3. Train it: the run builder makes the seeded model and the loaders from the card.
const run = buildRun({ card, data, batchSize: 16, seed: 0, workers: 0 });
const trainer = new Trainer({ model: run.model, train: run.train, val: run.val, runDir: join(out, 'run'), recipe: { epochs: 2, optimizer: 'sgd', lr: 0.05, emaDecay: null }, card });
const epochs = await trainer.fit();
const last = epochs[epochs.length - 1]!;
console.log(`trained ${epochs.length} epochs: validation top-1 ${((last.valTop1 ?? 0) * 100).toFixed(1)}%`);
const modelPath = join(out, 'model.safetensors');
saveModel(modelPath, run.model, { card });
trainer.dispose();
run.model.dispose();
await run.close();

// 4. Export to ONNX and classify with ONNX Runtime (the same ImageClassifier runs in the browser with onnxruntime-web).
const { model } = loadModel(modelPath);
const { bytes } = exportEfficientNet(model, { card });
model.dispose();
const classifier = await ImageClassifier.create(nodeRuntime, bytes);
const sample = await data.val.read(0);
if (!sample.ok) throw new Error('the first validation image does not decode');
const [result] = await classifier.classify([sample.image], 3);
console.log(`image of class ${data.classes[sample.label]}: ${result!.top.map((p) => `${p.label} ${(p.probability * 100).toFixed(1)}%`).join(', ')}`);
await classifier.release();
