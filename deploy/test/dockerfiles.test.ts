// The Dockerfiles without a Docker engine: stages, user, ports, health checks, and that every path
// and flag they rely on exists in this checkout.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SERVICE_PORTS } from '../src/probe-targets.js';

const deployDir = fileURLToPath(new URL('..', import.meta.url));
const repoRoot = join(deployDir, '..');
const read = (path: string): string => readFileSync(join(deployDir, path), 'utf8');

/** Instructions of a Dockerfile: continuation lines joined, comments dropped. */
function instructions(text: string): { op: string; args: string }[] {
  return text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const [op = '', ...rest] = line.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(' ') };
    });
}

const files = {
  services: instructions(read('docker/Dockerfile.services')),
  trainer: instructions(read('docker/Dockerfile.trainer')),
};

describe.each(Object.entries(files))('Dockerfile.%s', (_name, steps) => {
  const last = (op: string): string => steps.filter((s) => s.op === op).at(-1)?.args ?? '';
  const runtimeStart = steps.findLastIndex((s) => s.op === 'FROM');
  const runtime = steps.slice(runtimeStart);

  it('is multi-stage: a builder that installs from the lockfile and builds, a runtime that copies its bundle', () => {
    expect(steps.filter((s) => s.op === 'FROM').length).toBeGreaterThanOrEqual(2);
    const run = steps
      .filter((s) => s.op === 'RUN')
      .map((s) => s.args)
      .join('\n');
    expect(run).toContain('pnpm install --frozen-lockfile --offline');
    expect(run).toContain('pnpm build');
    expect(run).toContain('deploy/docker/make-bundle /out');
    expect(runtime.some((s) => s.op === 'COPY' && s.args === '--from=builder /out /app')).toBe(
      true,
    );
  });

  it('runs as the numeric non-root user the chart expects, with the entry point and a health check', () => {
    expect(runtime.find((s) => s.op === 'USER')?.args).toBe('10001:10001');
    expect(last('ENTRYPOINT')).toBe('["/app/bin/lathe-service"]');
    const healthcheck = last('HEALTHCHECK');
    expect(healthcheck).toMatch(
      /^--interval=\d+s --timeout=\d+s --start-period=\d+s --retries=\d+ CMD \["node", "\/app\/dist\/src\/(health-probe|queue-check)-main\.js"/,
    );
    // The checks are built from deploy/src into dist/src/*.js by tsc.
    const script = /dist\/src\/([a-z-]+)\.js/.exec(healthcheck)?.[1] ?? '';
    expect(existsSync(join(deployDir, 'src', `${script}.ts`))).toBe(true);
  });
});

describe('the files the images use', () => {
  it('has executable scripts for the entry point and the bundle', () => {
    for (const script of ['docker/lathe-service', 'docker/make-bundle']) {
      const mode = statSync(join(deployDir, script)).mode;
      expect(mode & 0o111, script).not.toBe(0);
      expect(read(script).startsWith('#!/bin/sh\n'), script).toBe(true);
    }
  });

  it('exposes the ports the services listen on by default, and the annotators page', () => {
    const expose = files.services
      .find((s) => s.op === 'EXPOSE')
      ?.args.split(' ')
      .map(Number);
    expect(expose).toEqual([...Object.values(DEFAULT_SERVICE_PORTS), 8062]);
  });

  it('asks onnxruntime-node for a CUDA build its installer knows, on the CUDA 12 / cuDNN base', () => {
    const trainer = read('docker/Dockerfile.trainer');
    const flag = /ONNXRUNTIME_NODE_INSTALL=(\S+)/.exec(trainer)?.[1];
    expect(flag).toBe('cuda12');
    expect(trainer).toMatch(/ARG CUDA_IMAGE=nvidia\/cuda:12\.[\d.]+-cudnn-runtime-/);
    // The installer's own metadata: linux/x64 accepts exactly the manifests it lists.
    const require = createRequire(join(repoRoot, 'libs', 'graph', 'package.json'));
    const ortDir = dirname(require.resolve('onnxruntime-node/package.json'));
    const metadata = require(join(ortDir, 'script', 'install-metadata.js')) as {
      requirements: Record<string, string[]>;
      manifests: Record<string, Record<string, unknown>>;
    };
    expect(metadata.requirements['linux/x64']).toContain(flag);
    const files = Object.keys(metadata.manifests[`linux/x64:${String(flag)}`] ?? {});
    for (const library of [
      'libonnxruntime_providers_cuda.so',
      'libonnxruntime_providers_shared.so',
    ]) {
      expect(files).toContain(`./${library}`);
      expect(trainer).toContain(`bin/napi-v6/linux/x64/${library}`);
    }
  });

  it("leaves glibc's malloc arenas at its default in the trainer image, as the chart's workers do by default", () => {
    const image = files.trainer
      .filter((s) => s.op === 'ENV')
      .flatMap((s) => s.args.split(/\s+/))
      .find((kv) => kv.startsWith('MALLOC_ARENA_MAX='));
    expect(image).toBeUndefined();
    expect(read('helm/lathe/values.yaml')).toMatch(/^ {4}mallocArenaMax: ''$/m);
  });

  it('keeps build outputs and secrets out of the build context', () => {
    const ignored = readFileSync(join(repoRoot, '.dockerignore'), 'utf8').split('\n');
    for (const pattern of ['**/node_modules', '**/dist', '.git', '.env']) {
      expect(ignored).toContain(pattern);
    }
    expect(ignored).not.toContain('pnpm-lock.yaml');
  });
});
