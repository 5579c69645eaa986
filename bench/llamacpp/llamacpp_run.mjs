// One llama.cpp measurement on a GGUF file, through node-llama-cpp's prebuilt CPU libraries (the
// ggml CPU backend picks its kernels for this CPU at run time, as llama-server does):
//   node llamacpp_run.mjs MODEL.gguf --prompt-ids 1,2,3 --generate 64 --threads 2
// Prints one JSON line: prompt tokens and prefill tokens/s (one batch, no output), generated
// tokens and decode tokens/s (greedy, one sequence), and the llama.cpp system info.
import { getLlama, LlamaLogLevel } from 'node-llama-cpp';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : fallback;
};
const modelPath = args[0];
const promptIds = option('--prompt-ids', '').split(',').filter(Boolean).map(Number);
const generate = Number(option('--generate', '64'));
const threads = Number(option('--threads', '2'));
if (!modelPath || promptIds.length === 0) {
  console.error('usage: node llamacpp_run.mjs MODEL.gguf --prompt-ids 1,2,3 [--generate 64] [--threads 2]');
  process.exit(2);
}

const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
const context = await model.createContext({
  contextSize: promptIds.length + generate + 16,
  batchSize: Math.max(promptIds.length, 1),
  threads,
});
const sequence = context.getSequence();

let start = performance.now();
await sequence.evaluateWithoutGeneratingNewTokens(promptIds);
const prefillMs = performance.now() - start;

// Greedy decode from the prompt's last state: each step evaluates one token.
start = performance.now();
let generated = 0;
for await (const token of sequence.evaluate([promptIds[promptIds.length - 1]], { temperature: 0 })) {
  void token;
  if (++generated >= generate) break;
}
const decodeMs = performance.now() - start;

console.log(JSON.stringify({
  engine: 'llama.cpp',
  prompt_tokens: promptIds.length,
  prefill_tokens_per_s: (promptIds.length / prefillMs) * 1000,
  generated_tokens: generated,
  decode_tokens_per_s: (generated / decodeMs) * 1000,
  threads,
  system_info: llama.systemInfo,
}));
await context.dispose();
await model.dispose();
await llama.dispose();
