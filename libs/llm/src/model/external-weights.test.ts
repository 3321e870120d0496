import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { GraphBuilder } from '@lathe/graph';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExternalWeights, ModelFolder } from './external-weights.js';

describe('ExternalWeights', () => {
  it('gives a name registered again the same place, so graphs of one model share one file', () => {
    const weights = new ExternalWeights();
    const a = weights.add('a', new Float32Array(4));
    const b = weights.add('b', new Uint8Array(3));
    expect(weights.add('a', new Float32Array(4))).toBe(a);
    expect(b.offset).toBe(16);
    expect(weights.byteLength).toBe(19);
    expect(() => weights.add('a', new Float32Array(2))).toThrow(
      'external weight "a" registered with 16 bytes, now 8',
    );
  });

  it('writes one model file per graph beside the one weights file, until removed', async () => {
    const weights = new ExternalWeights();
    const graph = (): GraphBuilder => {
      const g = new GraphBuilder();
      const w = g.initializer('w', 'float32', [2], weights.add('w', Float32Array.from([1, 2])));
      g.output('y', g.mul(g.input('x', 'float32', [2]), w));
      return g;
    };
    const folder = await ModelFolder.write({ train: graph(), eval: graph() }, weights);
    const dir = dirname(folder.path('train'));
    expect((await readdir(dir)).sort()).toEqual([
      'eval.onnx',
      'owner.json',
      'train.onnx',
      'weights.bin',
    ]);
    expect((await stat(folder.path('eval'))).size).toBeGreaterThan(0);
    expect((await stat(`${dir}/weights.bin`)).size).toBe(8);
    await folder.remove();
    await expect(readdir(dir)).rejects.toThrow(/ENOENT/);
  });
});

// Real processes: a trainer killed with SIGKILL never runs its cleanup, so what it leaves behind
// is only what the next model folder can reclaim.
describe('ModelFolder left behind by an ended process', () => {
  const source = pathToFileURL(fileURLToPath(new URL('./external-weights.ts', import.meta.url)));
  const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
  let scratch: string;
  let child: string;
  let savedTmpdir: string | undefined;

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'lathe-orphans-'));
    // The child creates a model folder, prints it, then exits (argv 'exit') or waits to be killed.
    child = join(scratch, 'child.mjs');
    await writeFile(
      child,
      [
        `const { ExternalWeights, ModelFolder } = await import(${JSON.stringify(source.href)});`,
        'const folder = await ModelFolder.write({}, new ExternalWeights());',
        "console.log(folder.path('model'));",
        "if (process.argv[2] === 'exit') process.exit(0);",
        'setInterval(() => {}, 1000);',
      ].join('\n'),
    );
    // The folders of this test go to a directory of their own (os.tmpdir() reads TMPDIR).
    savedTmpdir = process.env['TMPDIR'];
    process.env['TMPDIR'] = await mkdtemp(join(scratch, 'tmp-'));
  });
  afterAll(async () => {
    if (savedTmpdir === undefined) delete process.env['TMPDIR'];
    else process.env['TMPDIR'] = savedTmpdir;
    await rm(scratch, { recursive: true, force: true });
  });

  /** Starts the child; resolves with it and the folder it created once printed. */
  async function startChild(
    mode: 'wait' | 'exit',
  ): Promise<{ pid: number; folder: string; exited: Promise<unknown> }> {
    const proc = spawn(
      process.execPath,
      ['--import', 'tsx', '--conditions', 'lathe-source', child, mode],
      { cwd: repoRoot, env: { ...process.env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const exited = once(proc, 'exit');
    const stderr: string[] = [];
    proc.stderr.on('data', (d: Buffer) => stderr.push(d.toString()));
    const line = new Promise<string>((resolve, reject) => {
      createInterface({ input: proc.stdout }).once('line', resolve);
      void exited.then(() => reject(new Error(`child exited early: ${stderr.join('')}`)));
    });
    return { pid: proc.pid ?? -1, folder: dirname(await line), exited };
  }

  it('reclaims a SIGKILLed process folder and keeps a live process folder and unknown ones', async () => {
    const live = await startChild('wait');
    const killed = await startChild('wait');
    try {
      expect(JSON.parse(await readFile(join(killed.folder, 'owner.json'), 'utf8'))).toMatchObject({
        pid: killed.pid,
        host: hostname(),
      });
      process.kill(killed.pid, 'SIGKILL');
      await killed.exited;
      expect(existsSync(killed.folder)).toBe(true);
      const parent = dirname(killed.folder);
      // Left alone: no marker (maybe being created), an unreadable marker, another host's folder.
      const unmarked = join(parent, 'lathe-model-unmarked');
      const garbled = join(parent, 'lathe-model-garbled');
      const elsewhere = join(parent, 'lathe-model-elsewhere');
      for (const d of [unmarked, garbled, elsewhere]) await mkdir(d);
      await writeFile(join(garbled, 'owner.json'), '{"pid": ');
      await writeFile(
        join(elsewhere, 'owner.json'),
        JSON.stringify({ pid: killed.pid, host: `not-${hostname()}` }),
      );

      const folder = await ModelFolder.write({}, new ExternalWeights());
      expect(existsSync(killed.folder)).toBe(false);
      for (const d of [live.folder, unmarked, garbled, elsewhere, dirname(folder.path('model'))])
        expect(existsSync(d), d).toBe(true);
      await folder.remove();
    } finally {
      process.kill(live.pid, 'SIGKILL');
      await live.exited;
    }
  });

  it.skipIf(!existsSync('/proc/self/stat'))(
    'reclaims a folder whose pid now belongs to another process (a container restarted in place)',
    async () => {
      const reused = join(process.env['TMPDIR'] ?? '', 'lathe-model-reused');
      await mkdir(reused);
      // This very pid, but a start time this process does not have.
      await writeFile(
        join(reused, 'owner.json'),
        JSON.stringify({ pid: process.pid, host: hostname(), started: '1' }),
      );
      const folder = await ModelFolder.write({}, new ExternalWeights());
      expect(existsSync(reused)).toBe(false);
      // Its own folder, same pid and start time, is not mistaken for one.
      const again = await ModelFolder.write({}, new ExternalWeights());
      expect(existsSync(dirname(folder.path('model')))).toBe(true);
      await Promise.all([folder.remove(), again.remove()]);
    },
  );

  it('removes its folder when the process exits without removing it', async () => {
    const ended = await startChild('exit');
    await ended.exited;
    expect(existsSync(ended.folder)).toBe(false);
  });
});
