// @lathe/bench: benchmarks, run on demand (see README.md). They print figures and ratios and
// never fail on time.
export { BENCH_CONFIG, parameterCount, randomLlamaModel } from './random-llama.js';
