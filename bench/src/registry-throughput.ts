// Registry import and download throughput for a ~1 GB model with random weights, against
// copying the same bytes with cp on the same disk. Run on demand; prints figures, never fails.
//
//   node --conditions=lathe-source --import tsx bench/src/registry-throughput.ts [--layers 4] [--keep]
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { RegistryServiceService } from '@lathe/contracts/lathe/registry/v1/registry_service';
import { writeSafetensors } from '@lathe/llm';
import { downloadToDir, uploadModelDir } from '@lathe/registry';
import { createClient } from '@lathe/service-kit';
import { REPO_ROOT, spawnService } from '@lathe/service-kit/testing';
import { createTestDatabase } from '@lathe/testkit';
import { randomLlamaModel } from './random-llama.js';

const { values } = parseArgs({
  options: { layers: { type: 'string', default: '4' }, keep: { type: 'boolean', default: false } },
});

/** A Llama whose fp32 weights take about 0.96 GB at 4 layers (D 2048, SwiGLU 5632, vocab 16384, tied). */
const config = {
  architectures: ['LlamaForCausalLM'],
  hidden_size: 2048,
  intermediate_size: 5632,
  num_hidden_layers: Number(values.layers),
  num_attention_heads: 16,
  num_key_value_heads: 16,
  vocab_size: 16384,
  max_position_embeddings: 2048,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  tie_word_embeddings: true,
};

function seconds(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function main(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'lathe-registry-bench-'));
  const db = await createTestDatabase();
  try {
    const modelDir = join(root, 'model');
    await mkdir(modelDir);
    await writeFile(join(modelDir, 'config.json'), JSON.stringify(config));
    // Weights go out of scope after writing, so the measurements run without the 1 GB in memory.
    await writeSafetensors(
      join(modelDir, 'model.safetensors'),
      randomLlamaModel(config, 1).weights,
    );
    const bytes = (await stat(join(modelDir, 'model.safetensors'))).size;
    const mb = bytes / 1e6;
    execFileSync('sync');

    let t = process.hrtime.bigint();
    execFileSync('cp', [join(modelDir, 'model.safetensors'), join(root, 'cp-copy')]);
    const cpSeconds = seconds(t);
    execFileSync('sync');
    const cpSyncSeconds = seconds(t);

    const registry = await spawnService({
      entry: join(REPO_ROOT, 'services/registry/src/main.ts'),
      cwd: REPO_ROOT,
      startTimeoutMs: 60_000,
      env: {
        LATHE_AUTH_MODE: 'none',
        LATHE_REGISTRY_PORT: '0',
        LATHE_REGISTRY_STORE_URL: db.url,
        LATHE_REGISTRY_ARTIFACTS: join(root, 'artifacts'),
        LATHE_REGISTRY_WORK_DIR: join(root, 'work'),
        LATHE_REGISTRY_IMPORT_ROOTS: root,
      },
    });
    const client = createClient(RegistryServiceService, registry.address, {
      idempotent: [],
      deadlineMs: 1_800_000,
      // HTTP/2's default 64 KiB stream window caps a download at one window per round trip.
      channelOptions: { 'grpc-node.flow_control_window': 32 * 1024 * 1024 },
    });
    try {
      t = process.hrtime.bigint();
      await uploadModelDir(client.channel, 'bench-upload', modelDir);
      const uploadSeconds = seconds(t);

      // The same bytes again by path under another name: the blob is already stored, so this
      // is the validation + hashing + dedupe path.
      t = process.hrtime.bigint();
      await client.importModelFromPath({
        name: 'bench-path',
        path: modelDir,
        description: '',
        labels: {},
      });
      const pathSeconds = seconds(t);

      t = process.hrtime.bigint();
      await downloadToDir(
        client.channel,
        { name: 'bench-upload', selector: { $case: 'version', version: 1 } },
        join(root, 'download'),
      );
      const downloadSeconds = seconds(t);

      const row = (what: string, s: number): string =>
        `${what.padEnd(46)} ${s.toFixed(2).padStart(7)} s ${(mb / s).toFixed(0).padStart(6)} MB/s   cp is ${(s / cpSeconds).toFixed(1)}x faster (${(s / cpSyncSeconds).toFixed(1)}x with sync)`;
      process.stdout.write(
        [
          `model.safetensors: ${(bytes / 1e9).toFixed(2)} GB of random fp32 weights, ${root}`,
          `${'cp (same disk)'.padEnd(46)} ${cpSeconds.toFixed(2).padStart(7)} s ${(mb / cpSeconds).toFixed(0).padStart(6)} MB/s`,
          `${'cp + sync'.padEnd(46)} ${cpSyncSeconds.toFixed(2).padStart(7)} s ${(mb / cpSyncSeconds).toFixed(0).padStart(6)} MB/s`,
          row('ImportModel (gRPC client stream, 1 MiB chunks)', uploadSeconds),
          row('ImportModelFromPath (blob already stored)', pathSeconds),
          row('DownloadModel (gRPC stream, 1 MiB chunks)', downloadSeconds),
          '',
        ].join('\n'),
      );
    } finally {
      client.close();
      await registry.stop('SIGTERM');
    }
  } finally {
    await db.close();
    if (values.keep !== true) await rm(root, { recursive: true, force: true });
  }
}

await main();
