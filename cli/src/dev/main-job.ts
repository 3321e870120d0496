// The main job of `lathe dev` and of the mesh end-to-end test, through the services' gRPC APIs
// only: import the base model into the registry, upload and curate the SFT data, collect
// preference judgements and snapshot them into a DPO dataset, train (a caller-supplied step), and
// sample with the adapter.
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import {
  InterceptingCall,
  Metadata,
  credentials,
  status,
  type Interceptor,
  type ServiceError,
} from '@grpc/grpc-js';
import { ChatRole } from '@lathe/contracts/lathe/common/v1/chat';
import type { DatasetVersionRef } from '@lathe/contracts/lathe/common/v1/dataset_ref';
import type { ModelVersionRef } from '@lathe/contracts/lathe/common/v1/model_ref';
import { DatasetKind, RecordFormat } from '@lathe/contracts/lathe/datasets/v1/dataset';
import {
  CurateDatasetRequest,
  DatasetServiceClient,
  DatasetServiceService,
  type UploadRecordsResponse,
} from '@lathe/contracts/lathe/datasets/v1/dataset_service';
import { Role } from '@lathe/contracts/lathe/preferences/v1/annotator';
import { Choice, type Assignment } from '@lathe/contracts/lathe/preferences/v1/judgement';
import {
  CreateTaskRequest,
  IssueAnnotatorTokenRequest,
  PreferenceServiceService,
  SnapshotToDatasetRequest,
  SubmitJudgementRequest,
} from '@lathe/contracts/lathe/preferences/v1/preference_service';
import { RegistryServiceService } from '@lathe/contracts/lathe/registry/v1/registry_service';
import { JobState, type Job } from '@lathe/contracts/lathe/training/v1/job';
import type { JobEvent } from '@lathe/contracts/lathe/training/v1/job_event';
import { Device, JobSpec, Method } from '@lathe/contracts/lathe/training/v1/job_spec';
import {
  CreateJobRequest,
  TrainingServiceService,
  WatchJobRequest,
  type WatchJobResponse,
} from '@lathe/contracts/lathe/training/v1/training_service';
import { TextGenerator, TextTokenizer, loadLoraAdapter, loadModelForInference } from '@lathe/llm';
import type { SamplingOptions } from '@lathe/llm';
import { uploadModelDir } from '@lathe/registry';
import { createClient, fromServiceError, isLatheError, type LatheClient } from '@lathe/service-kit';

/** `host:port` of the services the main job calls. */
export interface MainJobAddresses {
  readonly registry: string;
  readonly datasets: string;
  readonly preferences: string;
  readonly training: string;
}

/** A W3C trace context: every call of the run carries it, so the run is one trace. */
export interface RunTrace {
  readonly traceId: string;
  /** The `traceparent` header value sent on every call. */
  readonly traceparent: string;
}

/** A fresh trace for one run (random trace and parent span ids, sampled). */
export function newRunTrace(): RunTrace {
  const traceId = randomBytes(16).toString('hex');
  return { traceId, traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` };
}

/** A grpc-js interceptor that adds the run's `traceparent` to every call's metadata. */
export function traceInterceptor(trace: RunTrace): Interceptor {
  return (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        metadata.set('traceparent', trace.traceparent);
        next(metadata, listener);
      },
    });
}

/** gRPC clients of the mesh, every call carrying the run's trace. */
export interface MeshClients {
  readonly registry: LatheClient<typeof RegistryServiceService>;
  readonly datasets: LatheClient<typeof DatasetServiceService>;
  /** The raw datasets client, for the UploadRecords client stream. */
  readonly datasetsRaw: DatasetServiceClient;
  readonly training: LatheClient<typeof TrainingServiceService>;
  /** Preferences with the admin token (creates annotators, tasks, snapshots). */
  readonly preferencesAdmin: LatheClient<typeof PreferenceServiceService>;
  /** A preferences client authenticated as an annotator. */
  annotator(secret: string): LatheClient<typeof PreferenceServiceService>;
  close(): void;
}

/** Opens {@link MeshClients}; `adminToken` is the preferences service's bootstrap admin secret. */
export function meshClients(
  addresses: MainJobAddresses,
  trace: RunTrace,
  adminToken: string | undefined,
): MeshClients {
  const channelOptions = { interceptors: [traceInterceptor(trace)] };
  const opened: Array<{ close(): void }> = [];
  const track = <C extends { close(): void }>(client: C): C => {
    opened.push(client);
    return client;
  };
  const preferences = (token: string | undefined): LatheClient<typeof PreferenceServiceService> =>
    track(
      createClient(PreferenceServiceService, addresses.preferences, {
        idempotent: ['getTask', 'getNextAssignment', 'submitJudgement'],
        deadlineMs: 60_000,
        channelOptions,
        ...(token === undefined ? {} : { token }),
      }),
    );
  return {
    registry: track(
      createClient(RegistryServiceService, addresses.registry, {
        idempotent: ['getModelVersion', 'listModelVersions'],
        deadlineMs: 120_000,
        channelOptions,
      }),
    ),
    datasets: track(
      createClient(DatasetServiceService, addresses.datasets, {
        idempotent: ['getDataset', 'listDatasetVersions', 'getDatasetVersion'],
        deadlineMs: 120_000,
        channelOptions,
      }),
    ),
    datasetsRaw: track(
      new DatasetServiceClient(addresses.datasets, credentials.createInsecure(), channelOptions),
    ),
    training: track(
      createClient(TrainingServiceService, addresses.training, {
        idempotent: ['createJob', 'getJob'],
        deadlineMs: 60_000,
        channelOptions,
      }),
    ),
    preferencesAdmin: preferences(adminToken),
    annotator: (secret) => preferences(secret),
    close: () => {
      for (const client of opened) client.close();
    },
  };
}

/** What one step found or made, and whether it came from an earlier run. */
export interface StepResult<R> {
  readonly ref: R;
  /** True when an earlier run had made the same thing (same digests): nothing was redone. */
  readonly reused: boolean;
}

/**
 * Imports the model folder `dir` as `name` by the ImportModel client stream. The registry keys
 * versions by their manifest digest, so the same files give back the version an earlier run made
 * (reported as reused).
 */
export async function importBaseModel(
  clients: MeshClients,
  name: string,
  dir: string,
): Promise<StepResult<ModelVersionRef>> {
  const before = new Set<number>();
  try {
    const listed = await clients.registry.listModelVersions({
      name,
      includeDeleted: false,
      page: { pageSize: 1000, pageToken: '' },
    });
    for (const v of listed.versions) before.add(v.ref?.version ?? 0);
  } catch (error) {
    if (!isLatheError(error) || error.code !== status.NOT_FOUND) throw error;
  }
  const { version } = await uploadModelDir(clients.registry.channel, name, dir, {
    description: `base model imported by lathe dev from ${basename(dir)}`,
    deadlineMs: 300_000,
  });
  const ref = version?.ref;
  if (ref === undefined) throw new Error('ImportModel answered no version');
  return { ref, reused: before.has(ref.version) };
}

/** The curation recipe of the SFT data: exact duplicates and empty turns out, 10% eval. */
const SFT_RECIPE = {
  dedupeExact: true,
  dropEmptyTurns: true,
  split: { evalFraction: 0.1, seed: 7 },
};

/** JSON-lines bytes of `file`: a JSON array is written one element a line, JSONL is kept. */
export async function jsonLines(file: string): Promise<Buffer> {
  const raw = await readFile(file);
  const text = raw.toString('utf8').trimStart();
  if (!text.startsWith('[')) return raw;
  const rows = JSON.parse(text) as unknown[];
  return Buffer.from(rows.map((row) => `${JSON.stringify(row)}\n`).join(''));
}

/**
 * Uploads `file` (JSONL or a JSON array) into SFT dataset `name` and curates it into a version.
 * The version's description carries the file's SHA-256 and the recipe's, so a later run with
 * the same file finds that version and skips both the upload and the curation.
 */
export async function uploadAndCurate(
  clients: MeshClients,
  name: string,
  file: string,
): Promise<StepResult<DatasetVersionRef> & { accepted: number; removed: number }> {
  const body = await jsonLines(file);
  const digest = createHash('sha256').update(body).update(JSON.stringify(SFT_RECIPE)).digest('hex');
  const description = `lathe dev: ${basename(file)} + recipe, sha256 ${digest}`;
  let exists = true;
  try {
    await clients.datasets.getDataset({ name });
  } catch (error) {
    if (!isLatheError(error) || error.code !== status.NOT_FOUND) throw error;
    exists = false;
  }
  if (exists) {
    const earlier = await findDatasetVersion(clients, name, description);
    if (earlier !== undefined) return { ref: earlier, reused: true, accepted: 0, removed: 0 };
  } else {
    await clients.datasets.createDataset({
      name,
      kind: DatasetKind.DATASET_KIND_SFT,
      description: 'SFT data of lathe dev',
      labels: {},
    });
  }
  const uploaded = await uploadRecords(clients.datasetsRaw, name, basename(file), body);
  const curated = await clients.datasets.curateDataset(
    CurateDatasetRequest.fromPartial({
      dataset: name,
      uploadIds: [uploaded.upload?.id ?? ''],
      spec: SFT_RECIPE,
      description,
      idempotencyKey: `lathe-dev-${digest}`,
    }),
  );
  const ref = curated.version?.ref;
  if (ref === undefined) throw new Error('CurateDataset answered no version');
  return {
    ref,
    reused: false,
    accepted: uploaded.upload?.acceptedCount ?? 0,
    removed: curated.version?.removedCount ?? 0,
  };
}

/** The version of `dataset` whose description is `description`, among its newest 1000. */
async function findDatasetVersion(
  clients: MeshClients,
  dataset: string,
  description: string,
): Promise<DatasetVersionRef | undefined> {
  const { versions } = await clients.datasets.listDatasetVersions({
    dataset,
    page: { pageSize: 1000, pageToken: '' },
  });
  return versions.find((v) => v.description === description)?.ref;
}

/** UploadRecords: the header, then `body` in 256 KiB chunks. */
function uploadRecords(
  client: DatasetServiceClient,
  dataset: string,
  sourceName: string,
  body: Buffer,
): Promise<UploadRecordsResponse> {
  return new Promise((resolve, reject) => {
    const call = client.uploadRecords(
      new Metadata(),
      { deadline: Date.now() + 300_000 },
      (error: ServiceError | null, response?: UploadRecordsResponse) => {
        if (error !== null) reject(fromServiceError(error));
        else if (response === undefined) reject(new Error('UploadRecords answered nothing'));
        else resolve(response);
      },
    );
    call.write({
      message: {
        $case: 'header',
        header: {
          dataset,
          format: RecordFormat.RECORD_FORMAT_AUTO,
          sourceName,
          maxReportedRejections: 10,
          sha256: createHash('sha256').update(body).digest('hex'),
        },
      },
    });
    for (let i = 0; i < body.length; i += 256 * 1024)
      call.write({ message: { $case: 'chunk', chunk: body.subarray(i, i + 256 * 1024) } });
    call.end();
  });
}

/** Options of {@link collectPreferences}. */
export interface PreferenceOptions {
  /** The registered base model's folder, which writes the candidates. */
  readonly modelDir: string;
  /** The base model's registry version (recorded as the candidates' source). */
  readonly model: ModelVersionRef;
  /** Prompts of the items. */
  readonly prompts: readonly string[];
  /** The preference dataset the snapshot writes a version of. */
  readonly dataset: string;
  /** Scripted annotators (each judges every item), at least 1. */
  readonly annotators: number;
  /** New tokens per candidate. */
  readonly maxNewTokens: number;
  /**
   * Humans instead of the scripted annotators: called with one annotator token once the task
   * exists; resolves when they are done (the snapshot follows).
   */
  readonly humans?: (task: { taskId: string; token: string }) => Promise<void>;
  /** Progress lines. */
  readonly log: (line: string) => void;
}

/** What {@link collectPreferences} made. */
export interface PreferenceResult extends StepResult<DatasetVersionRef> {
  readonly taskId: string;
  readonly judgements: number;
  readonly pairs: number;
}

/** The two samplings that write an item's candidates from the base model. */
const CANDIDATE_SAMPLINGS: ReadonlyArray<{
  name: string;
  sampling: SamplingOptions;
  seed: number;
}> = [
  {
    name: 'temperature 0.7, top-p 0.9',
    sampling: { temperature: 0.7, topP: 0.9, topK: 0 },
    seed: 1,
  },
  { name: 'temperature 1.3', sampling: { temperature: 1.3, topP: 1, topK: 0 }, seed: 2 },
];

/**
 * The scripted annotators' rule, stated in the task's instructions: prefer the response with the
 * larger share of distinct words (less repetition); on equal shares, the shorter one; A when
 * still equal. Returns the choice for an assignment.
 */
export function scriptedChoice(assignment: Pick<Assignment, 'candidateA' | 'candidateB'>): Choice {
  const score = (text: string): [number, number] => {
    const words = text.toLowerCase().match(/[\p{L}\p{N}']+/gu) ?? [];
    return [words.length === 0 ? 0 : new Set(words).size / words.length, -text.length];
  };
  const text = (c: Assignment['candidateA']): string =>
    (c?.messages ?? []).map((m) => m.content).join('\n');
  const [a1, a2] = score(text(assignment.candidateA));
  const [b1, b2] = score(text(assignment.candidateB));
  return b1 > a1 || (b1 === a1 && b2 > a2) ? Choice.CHOICE_B : Choice.CHOICE_A;
}

/** The instructions of the dev task, naming the scripted rule. */
export const SCRIPTED_RULE =
  'Scripted dev annotators (not people): prefer the response with the larger share of distinct ' +
  'words (less repetition); on equal shares the shorter one; otherwise A.';

/**
 * Collects preference judgements through the preferences service and snapshots them into a DPO
 * dataset version: two candidates per prompt written by the base model with two samplings, an
 * annotation task (k = annotators), annotators created by the admin with their own tokens, each
 * judging every item (scripted by {@link scriptedChoice}, or people through the web page), then
 * SnapshotToDataset. The snapshot's description carries the model and prompts' digest, so a later
 * run with the same inputs reuses that version and skips the task.
 */
export async function collectPreferences(
  clients: MeshClients,
  options: PreferenceOptions,
): Promise<PreferenceResult> {
  const digest = createHash('sha256')
    .update(JSON.stringify([options.model.manifestSha256, options.prompts, options.maxNewTokens]))
    .update(options.humans === undefined ? `scripted:${String(options.annotators)}` : 'humans')
    .digest('hex');
  const description = `lathe dev preference snapshot, inputs sha256 ${digest}`;
  try {
    const earlier = await findDatasetVersion(clients, options.dataset, description);
    if (earlier !== undefined)
      return { ref: earlier, reused: true, taskId: '', judgements: 0, pairs: 0 };
  } catch (error) {
    if (!isLatheError(error) || error.code !== status.NOT_FOUND) throw error;
  }
  options.log(
    `writing 2 candidates for each of ${String(options.prompts.length)} prompts with the base model`,
  );
  const candidates = await Promise.all(
    CANDIDATE_SAMPLINGS.map((s) =>
      generateTexts(options.modelDir, undefined, options.prompts, {
        sampling: s.sampling,
        seed: s.seed,
        maxNewTokens: options.maxNewTokens,
      }),
    ),
  );
  const admin = clients.preferencesAdmin;
  const { task } = await admin.createTask(
    CreateTaskRequest.fromPartial({
      displayName: `lathe dev ${new Date().toISOString()}`,
      instructions:
        options.humans === undefined
          ? SCRIPTED_RULE
          : 'Pick the response that answers the prompt better.',
      annotatorsPerItem: options.humans === undefined ? options.annotators : 1,
      allowTie: false,
      items: options.prompts.map((prompt, i) => ({
        id: `prompt-${String(i + 1)}`,
        prompt: [{ role: ChatRole.CHAT_ROLE_USER, content: prompt }],
        candidates: CANDIDATE_SAMPLINGS.map((s, c) => ({
          id: c === 0 ? 'a' : 'b',
          messages: [{ role: ChatRole.CHAT_ROLE_ASSISTANT, content: candidates[c]?.[i] ?? '' }],
          source: `model:${options.model.name}@${String(options.model.version)} (${s.name})`,
        })),
        metadata: { source: 'lathe dev' },
      })),
    }),
  );
  const taskId = task?.id ?? '';
  let judgements = 0;
  if (options.humans !== undefined) {
    const { secret } = await newAnnotator(admin, 'dev human annotator');
    await options.humans({ taskId, token: secret });
  } else {
    for (let n = 1; n <= options.annotators; n++) {
      const { secret } = await newAnnotator(admin, `scripted dev annotator ${String(n)}`);
      const annotator = clients.annotator(secret);
      judgements += await judgeAll(annotator, taskId, `dev-${String(n)}`);
    }
    options.log(
      `${String(options.annotators)} scripted annotators judged ${String(judgements)} assignments (rule: ${SCRIPTED_RULE})`,
    );
  }
  const snapshot = await admin.snapshotToDataset(
    SnapshotToDatasetRequest.fromPartial({
      taskId,
      dataset: options.dataset,
      minJudgements: options.humans === undefined ? options.annotators : 1,
      description,
    }),
  );
  const ref = snapshot.datasetVersion;
  if (ref === undefined) throw new Error('SnapshotToDataset answered no dataset version');
  return { ref, reused: false, taskId, judgements, pairs: Number(snapshot.pairCount) };
}

async function newAnnotator(
  admin: LatheClient<typeof PreferenceServiceService>,
  displayName: string,
): Promise<{ id: string; secret: string }> {
  const { annotator } = await admin.createAnnotator({
    displayName,
    email: '',
    maxRole: Role.ROLE_ANNOTATOR,
  });
  const issued = await admin.issueAnnotatorToken(
    IssueAnnotatorTokenRequest.fromPartial({
      annotatorId: annotator?.id ?? '',
      role: Role.ROLE_ANNOTATOR,
      description: 'issued by lathe dev',
    }),
  );
  return { id: annotator?.id ?? '', secret: issued.secret };
}

/** Draws and judges assignments until the task has none left for this annotator. */
async function judgeAll(
  client: LatheClient<typeof PreferenceServiceService>,
  taskId: string,
  keyPrefix: string,
): Promise<number> {
  let judged = 0;
  for (;;) {
    const next = await client.getNextAssignment({ taskId });
    const assignment = next.assignment;
    if (assignment === undefined) {
      if (next.exhausted) return judged;
      await new Promise((resolve) => setTimeout(resolve, 200));
      continue;
    }
    await client.submitJudgement(
      SubmitJudgementRequest.fromPartial({
        assignmentId: assignment.id,
        choice: scriptedChoice(assignment),
        idempotencyKey: `${keyPrefix}-${assignment.id}`,
        expectedRevision: 0,
      }),
    );
    judged++;
  }
}

/** Generation settings of {@link generateTexts}. */
export interface GenerationSettings {
  readonly sampling: SamplingOptions;
  readonly seed: number;
  readonly maxNewTokens: number;
}

/** Texts the model (with `adapterDir`'s LoRA adapter, when given) writes after each prompt. */
export async function generateTexts(
  modelDir: string,
  adapterDir: string | undefined,
  prompts: readonly string[],
  settings: GenerationSettings,
): Promise<string[]> {
  const model = await loadModelForInference(modelDir);
  const tokenizer = await TextTokenizer.load(modelDir, model.config.vocabSize);
  const adapter =
    adapterDir === undefined ? undefined : await loadLoraAdapter(adapterDir, model.config);
  const stop = new Set<number>();
  for (const id of [tokenizer.eosTokenId, tokenizer.bosTokenId, ...model.config.eosTokenIds])
    if (id !== undefined) stop.add(id);
  const generator = await TextGenerator.create(model, { adapter });
  try {
    const texts: string[] = [];
    for (const prompt of prompts) {
      const result = await generator.generate(tokenizer.encode(prompt), {
        maxNewTokens: settings.maxNewTokens,
        sampling: settings.sampling,
        seed: settings.seed,
        stopTokenIds: [...stop],
      });
      texts.push(tokenizer.decode(result.tokenIds).trim());
    }
    return texts;
  } finally {
    await generator.close();
  }
}

/** The first `count` instructions of an SFT file (alpaca `instruction` + `input`, else text). */
export async function promptsOf(file: string, count: number): Promise<string[]> {
  const lines = (await jsonLines(file)).toString('utf8').split('\n');
  const prompts: string[] = [];
  for (const line of lines) {
    if (prompts.length >= count) break;
    if (line.trim() === '') continue;
    const row = JSON.parse(line) as Record<string, unknown>;
    const instruction = typeof row['instruction'] === 'string' ? row['instruction'] : '';
    const input = typeof row['input'] === 'string' ? row['input'] : '';
    const prompt = [instruction, input].filter((s) => s !== '').join('\n');
    if (prompt !== '') prompts.push(prompt);
  }
  return prompts;
}

/** Wraps a grpc-js status in an error naming the step that failed. */
export function stepError(step: string, error: unknown): Error {
  const message = error instanceof Error ? error.message : String(error);
  return new Error(`${step}: ${message}`, { cause: error });
}

/** What {@link runTrainingJob} trains. */
export interface TrainingJobOptions {
  /** LORA, QLORA or DPO (DPO needs a preference dataset). */
  readonly method: Method;
  /** The registered base model. */
  readonly base: ModelVersionRef;
  /** The dataset version (SFT, or preference for DPO). */
  readonly dataset: DatasetVersionRef;
  /** Optimizer steps. */
  readonly maxSteps: number;
  /** Tokens per sequence. */
  readonly maxSeqLength: number;
  /** Peak learning rate. */
  readonly learningRate: number;
  /** Registry name of the adapter. */
  readonly outputName: string;
  /** Every event of the job's WatchJob stream, as it arrives (the progress display). */
  readonly onEvent?: (event: JobEvent) => void;
}

/** The job's spec, as CreateJob takes it. */
export function trainingJobSpec(options: TrainingJobOptions): JobSpec {
  return JobSpec.fromPartial({
    method: options.method,
    baseModel: {
      name: options.base.name,
      selector: { $case: 'version', version: options.base.version },
    },
    dataset: options.dataset,
    hyperparameters: {
      learningRate: options.learningRate,
      length: { $case: 'maxSteps', maxSteps: options.maxSteps },
      batchSize: 4,
      maxSeqLength: options.maxSeqLength,
      seed: 1,
      checkpointEverySteps: 0,
    },
    lora: { r: 8, alpha: 16, dropout: 0, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] },
    resources: { device: Device.DEVICE_CPU },
    outputName: options.outputName,
  });
}

const TERMINAL = new Set([
  JobState.JOB_STATE_SUCCEEDED,
  JobState.JOB_STATE_FAILED,
  JobState.JOB_STATE_CANCELLED,
]);

/**
 * Creates a training job through the training service and follows its WatchJob stream until it
 * ends. The idempotency key is the spec's digest: the same spec again returns the first job
 * (already succeeded: reported as reused, nothing trains).
 *
 * @throws Error naming the job and its failure when it does not succeed
 */
export async function runTrainingJob(
  training: LatheClient<typeof TrainingServiceService>,
  options: TrainingJobOptions,
): Promise<{ job: Job; reused: boolean }> {
  const spec = trainingJobSpec(options);
  const key = createHash('sha256').update(JobSpec.encode(spec).finish()).digest('hex');
  const created = await training.createJob(
    CreateJobRequest.fromPartial({
      spec,
      displayName: `lathe dev ${Method[options.method] ?? ''}`,
      idempotencyKey: `lathe-dev-${key}`,
    }),
  );
  const first = created.job;
  if (first === undefined) throw new Error('CreateJob answered no job');
  if (first.state === JobState.JOB_STATE_SUCCEEDED) return { job: first, reused: true };
  let after = 0;
  // A dropped stream is joined again after the last event seen (WatchJob resumes by sequence).
  for (let tries = 0; ; tries++) {
    try {
      const call = training.channel.makeServerStreamRequest(
        TrainingServiceService.watchJob.path,
        TrainingServiceService.watchJob.requestSerialize,
        TrainingServiceService.watchJob.responseDeserialize,
        WatchJobRequest.fromPartial({ jobId: first.id, afterSequence: after }),
        new Metadata(),
        {},
      );
      for await (const message of call as AsyncIterable<WatchJobResponse>) {
        const event = message.event;
        if (event === undefined) continue;
        after = Math.max(after, Number(event.sequence));
        options.onEvent?.(event);
      }
      break;
    } catch (error) {
      const code = (error as { code?: number }).code;
      if (code !== status.UNAVAILABLE || tries >= 5) throw fromServiceError(error as ServiceError);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
  const { job } = await training.getJob({ jobId: first.id });
  if (job === undefined || !TERMINAL.has(job.state))
    throw new Error(`job ${first.id}: WatchJob ended before the job did`);
  if (job.state !== JobState.JOB_STATE_SUCCEEDED)
    throw new Error(
      `job ${job.id} ${(JobState[job.state] ?? '').replace('JOB_STATE_', '').toLowerCase()}: ${job.failure?.reason ?? job.cancelReason} ${job.failure?.message ?? ''}`.trim(),
    );
  return { job, reused: false };
}

/** A one-line rendering of a job event for the progress display. */
export function describeJobEvent(event: JobEvent): string {
  const e = event.event;
  if (e === undefined) return `#${String(event.sequence)}`;
  switch (e.$case) {
    case 'stateChange':
      return `${(JobState[e.stateChange.to] ?? '').replace('JOB_STATE_', '').toLowerCase()}${e.stateChange.reason === '' ? '' : ` (${e.stateChange.reason})`}${event.attempt > 0 ? ` attempt ${String(event.attempt)}` : ''}`;
    case 'progress': {
      const p = e.progress;
      return `step ${String(p.step)}/${String(p.totalSteps)} loss ${p.loss.toFixed(4)} lr ${p.learningRate.toExponential(2)} ${Math.round(p.tokensPerSecond)} tok/s`;
    }
    case 'checkpoint':
      return `checkpoint at step ${String(e.checkpoint.step)}`;
  }
}
