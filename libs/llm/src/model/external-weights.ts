import { createWriteStream, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { writeModelFile, type ExternalDataRef, type GraphBuilder } from '@lathe/graph';

/**
 * Frozen weights kept out of the ONNX protobuf, as ONNX external data in one file beside the
 * model file. Why: protobuf caps a model at 2 GB (a 1B-parameter model in fp32 is 4 GB), and a
 * session created from a path reads the weights from disk instead of from copies of the
 * serialized model in both threads.
 */
export class ExternalWeights {
  /** File name of the weights, relative to the model file (onnxruntime requires the same folder). */
  static readonly FILE = 'weights.bin';
  private readonly chunks: (Float32Array | Uint8Array)[] = [];
  private readonly refs = new Map<string, ExternalDataRef>();
  private size = 0;

  /**
   * Registers an initializer's data (fp32 values or raw bytes) under its name and returns where
   * the model file will find it. A name registered before gets the same place: several graphs
   * of one model (training and evaluation) share one weights file.
   */
  add(name: string, data: Float32Array | Uint8Array): ExternalDataRef {
    const known = this.refs.get(name);
    if (known) {
      if (known.length !== data.byteLength)
        throw new Error(
          `external weight "${name}" registered with ${known.length} bytes, now ${data.byteLength}`,
        );
      return known;
    }
    const ref = { location: ExternalWeights.FILE, offset: this.size, length: data.byteLength };
    this.chunks.push(data);
    this.refs.set(name, ref);
    this.size += data.byteLength;
    return ref;
  }

  /** Bytes registered so far. */
  get byteLength(): number {
    return this.size;
  }

  /** Writes the weights file into `dir`. */
  async write(dir: string): Promise<void> {
    const out = createWriteStream(join(dir, ExternalWeights.FILE));
    for (const chunk of this.chunks) {
      if (!out.write(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)))
        await once(out, 'drain');
    }
    out.end();
    await once(out, 'finish');
  }
}

/** Prefix of every model folder in the temporary directory. */
const FOLDER_PREFIX = 'lathe-model-';
/** The marker naming the process that owns a model folder. */
const OWNER_FILE = 'owner.json';

/** Who owns a model folder: the process, its host, and (Linux) when the process started. */
interface FolderOwner {
  readonly pid: number;
  readonly host: string;
  /**
   * The process's start time in clock ticks since boot (`/proc/<pid>/stat` field 22), absent
   * where there is no `/proc`. A pid alone is not enough: a container restarted in place gives
   * its new trainer the pid the killed one had.
   */
  readonly started?: string;
}

/** When process `pid` started (`/proc/<pid>/stat` field 22), or undefined where unknown. */
function processStartTicks(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 is the command in parentheses and may hold spaces; fields from 3 on follow the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[22 - 3];
  } catch {
    return undefined;
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it runs, as another user. Only "no such process" proves it gone.
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

function parseOwner(text: string): FolderOwner | undefined {
  const owner = JSON.parse(text) as Partial<FolderOwner> | null;
  if (
    typeof owner?.pid !== 'number' ||
    !Number.isInteger(owner.pid) ||
    owner.pid <= 0 ||
    typeof owner.host !== 'string' ||
    (owner.started !== undefined && typeof owner.started !== 'string')
  )
    return undefined;
  return owner as FolderOwner;
}

/** Whether the process that wrote `owner` has certainly ended (on this host). */
function ownerEnded(owner: FolderOwner): boolean {
  // Another host's pids say nothing about this one's (a temporary directory on shared storage).
  if (owner.host !== hostname()) return false;
  if (!isRunning(owner.pid)) return true;
  const started = owner.started === undefined ? undefined : processStartTicks(owner.pid);
  return started !== undefined && started !== owner.started;
}

/**
 * Removes the model folders in `parent` whose owning process has ended: a trainer killed by
 * SIGKILL or the OOM killer leaves its weights (the size of the base model) behind. A folder
 * without a readable marker is left alone (it may be one being created right now), and so is a
 * process that still runs. Failures are ignored: cleaning up must never stop a training run.
 */
async function reclaimOrphanedFolders(parent: string): Promise<void> {
  const names = await readdir(parent).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.startsWith(FOLDER_PREFIX)) continue;
    const dir = join(parent, name);
    try {
      const owner = parseOwner(await readFile(join(dir, OWNER_FILE), 'utf8'));
      if (owner !== undefined && ownerEnded(owner)) await rm(dir, { recursive: true, force: true });
    } catch {
      // Unreadable, half-written or already gone: not ours to judge.
    }
  }
}

/** Folders of this process (this thread) still in place, removed at exit if not before. */
const openFolders = new Set<string>();
let removeAtExit = false;

function removeOpenFoldersSync(): void {
  for (const dir of openFolders) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // The process is ending; a folder left here is reclaimed by the next model folder.
    }
  }
}

/**
 * The model files of one model's graphs in a fresh temporary folder: one model file per graph,
 * all reading the one weights file beside them. Kept until {@link ModelFolder.remove}, so a
 * session can be opened later (an evaluation graph on first use) without keeping the weights in
 * JS memory meanwhile.
 *
 * The folder holds an `owner.json` marker (pid, host, process start time). It is removed at
 * process exit if still there (an 'exit' handler; signals that kill the process skip it), and a
 * new folder first removes the folders of processes that ended without cleaning up.
 */
export class ModelFolder {
  private constructor(private readonly dir: string) {}

  /** Writes the weights file and one `<name>.onnx` per graph. */
  static async write(
    graphs: Readonly<Record<string, GraphBuilder>>,
    weights: ExternalWeights,
  ): Promise<ModelFolder> {
    const parent = tmpdir();
    await reclaimOrphanedFolders(parent);
    const folder = new ModelFolder(await mkdtemp(join(parent, FOLDER_PREFIX)));
    openFolders.add(folder.dir);
    if (!removeAtExit) {
      process.on('exit', removeOpenFoldersSync);
      removeAtExit = true;
    }
    try {
      const started = processStartTicks(process.pid);
      const owner: FolderOwner = {
        pid: process.pid,
        host: hostname(),
        ...(started === undefined ? {} : { started }),
      };
      await writeFile(join(folder.dir, OWNER_FILE), JSON.stringify(owner));
      await weights.write(folder.dir);
      for (const [name, graph] of Object.entries(graphs))
        await writeModelFile(graph, folder.path(name));
      return folder;
    } catch (e) {
      await folder.remove();
      throw e;
    }
  }

  /** The model file of graph `name`. */
  path(name: string): string {
    return join(this.dir, `${name}.onnx`);
  }

  /** Deletes the folder (sessions already open keep what they read or mapped). */
  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
    openFolders.delete(this.dir);
  }
}

/**
 * Writes a graph and its external weights to a fresh temporary folder, opens a session from the
 * model file with `open`, and removes the folder afterwards: onnxruntime has read (or mapped)
 * the weights by the time the session exists, and a mapped file stays valid after unlinking.
 */
export async function openFromModelFiles<T>(
  graph: GraphBuilder,
  weights: ExternalWeights,
  open: (modelPath: string) => Promise<T>,
): Promise<T> {
  const folder = await ModelFolder.write({ model: graph }, weights);
  try {
    return await open(folder.path('model'));
  } finally {
    await folder.remove();
  }
}
