// Stores a finished run's files in the registry's artifact namespace and registers them with
// their lineage, exactly once per job (the registry dedupes on the idempotency key).
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { Metadata } from '@grpc/grpc-js';
import type { ModelVersionRef } from '@lathe/contracts/lathe/common/v1/model_ref';
import type { StoredFile } from '@lathe/contracts/lathe/registry/v1/registry_service';
import type { DpoTrainOptions, TrainOptions } from '@lathe/llm';
import type { StartedAttempt } from '../store/job-store.js';
import type { JobInputSources } from './job-inputs.js';

/** Files of a run folder that are the trainer's own bookkeeping, not part of the result. */
const NOT_RESULT = new Set(['checkpoints', 'training_summary.json']);

/** What {@link registerResult} registers. */
export interface RunResult {
  readonly jobId: string;
  readonly begun: StartedAttempt;
  /** The run folder: a PEFT adapter (LoRA) or a Hugging Face model (full). */
  readonly outDir: string;
  /** How it was trained: `full`, `lora`, `qlora` (adapters over their base) or `dpo`. */
  readonly method: 'full' | 'lora' | 'qlora' | 'dpo';
  /** `hp.*` labels: the hyperparameters the registry records (see {@link hyperparameterLabels}). */
  readonly hyperparameters: Readonly<Record<string, string>>;
  /** Final metrics (train_loss, eval_loss, ...). */
  readonly metrics: Readonly<Record<string, number>>;
  /** Call metadata carrying the job's `traceparent`, which the registry records as lineage. */
  readonly metadata: Metadata;
}

/** The registry name of a job's result: the spec's `output_name`, else `<base name>-<method>`. */
export function resultName(
  spec: StartedAttempt['spec'],
  baseName: string,
  method: RunResult['method'],
): string {
  return spec.outputName !== '' ? spec.outputName : `${baseName}-${method}`;
}

/** The idempotency key under which a job's result is registered: one result per job, ever. */
export function registrationKey(jobId: string): string {
  return `training-job:${jobId}`;
}

async function resultFiles(dir: string, root = dir): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (dir === root && NOT_RESULT.has(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await resultFiles(path, root)));
    else if (entry.isFile()) out.push(relative(root, path).split('\\').join('/'));
  }
  return out.sort();
}

/** The `hp.*` labels of an SFT run's options (unset options left out). */
export function hyperparameterLabels(o: TrainOptions): Record<string, string> {
  return hpLabels({
    'hp.method': o.method,
    'hp.learning_rate': o.lr,
    'hp.max_steps': o.maxSteps,
    'hp.epochs': o.epochs,
    'hp.batch_size': o.batchSize,
    'hp.gradient_accumulation_steps': o.gradAccum,
    'hp.max_seq_length': o.seqLen,
    'hp.schedule': o.decay,
    'hp.warmup_steps': o.warmupSteps,
    'hp.weight_decay': o.weightDecay,
    'hp.seed': o.seed,
    'hp.lora_r': o.lora?.r,
    'hp.lora_alpha': o.lora?.alpha,
    'hp.lora_dropout': o.lora?.dropout,
    'hp.lora_target_modules': o.lora?.targetModules?.join(','),
    'hp.quant_scheme': o.quant?.scheme,
    'hp.quant_block_size': o.quant?.blockSize,
    'hp.quant_double_quant':
      o.quant?.doubleQuant === undefined ? undefined : String(o.quant.doubleQuant),
  });
}

/** The `hp.*` labels of a DPO run's options (unset options left out). */
export function dpoHyperparameterLabels(o: DpoTrainOptions): Record<string, string> {
  return hpLabels({
    'hp.method': 'dpo',
    'hp.learning_rate': o.lr,
    'hp.max_steps': o.maxSteps,
    'hp.epochs': o.epochs,
    'hp.batch_size': o.batchSize,
    'hp.seed': o.seed,
    'hp.dpo_beta': o.loss?.beta,
    'hp.dpo_loss': o.loss?.lossType,
    'hp.dpo_label_smoothing': o.loss?.labelSmoothing,
    'hp.lora_r': o.lora?.r,
    'hp.lora_alpha': o.lora?.alpha,
    'hp.lora_dropout': o.lora?.dropout,
    'hp.lora_target_modules': o.lora?.targetModules?.join(','),
  });
}

function hpLabels(hp: Record<string, string | number | undefined>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(hp)
      .filter((e): e is [string, string | number] => e[1] !== undefined)
      .map(([k, v]) => [k, String(v)]),
  );
}

/**
 * Puts every result file of `outDir` into the registry's artifact namespace and registers them:
 * RegisterAdapter for LoRA, QLoRA (with the NF4 copy trained on) and DPO, RegisterFineTunedModel
 * for full fine-tuning, with the base version, dataset version, job id, metrics, hyperparameters and trace as lineage, under
 * {@link registrationKey}. Returns the registered version.
 */
export async function registerResult(
  sources: Pick<JobInputSources, 'registry' | 'registryArtifacts'>,
  run: RunResult,
): Promise<ModelVersionRef> {
  const files: StoredFile[] = [];
  for (const path of await resultFiles(run.outDir)) {
    const blob = await sources.registryArtifacts.put(await readFile(join(run.outDir, path)));
    files.push({
      path,
      artifact: {
        sha256: blob.sha256,
        sizeBytes: blob.size,
        mediaType: path.endsWith('.json') ? 'application/json' : 'application/octet-stream',
        uri: `${sources.registryArtifacts.namespace}/sha256/${blob.sha256.slice(0, 2)}/${blob.sha256}`,
      },
    });
  }
  const { spec, baseModel, dataset } = run.begun;
  const method = run.method;
  const name = resultName(spec, baseModel.name, method);
  const common = {
    name,
    base: baseModel,
    files,
    trainingJobId: run.jobId,
    dataset,
    metrics: { ...run.metrics },
    description: `trained by job ${run.jobId}`,
    labels: { ...run.hyperparameters, 'lathe.training-job': run.jobId },
    idempotencyKey: registrationKey(run.jobId),
  };
  const callOptions = { metadata: run.metadata, deadlineMs: 120_000 };
  const response =
    method !== 'full'
      ? await sources.registry.registerAdapter(
          { ...common, method, quantizedBase: run.begun.quantizedBase },
          callOptions,
        )
      : await sources.registry.registerFineTunedModel(common, callOptions);
  const ref = response.version?.ref;
  if (ref === undefined) throw new Error(`registry registered ${name} but returned no version`);
  return ref;
}
