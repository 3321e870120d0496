import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildManifest, manifestText, pathProblem } from './manifest.js';

const a = { path: 'config.json', sha256: '1'.repeat(64), size: 10 };
const b = { path: 'model.safetensors', sha256: '2'.repeat(64), size: 2000 };

describe('manifest', () => {
  it('is the sha256 of one "<sha256> <size> <path>" line per file in path order', () => {
    const text = `${'1'.repeat(64)} 10 config.json\n${'2'.repeat(64)} 2000 model.safetensors\n`;
    expect(manifestText([b, a])).toBe(text);
    expect(buildManifest([b, a]).sha256).toBe(createHash('sha256').update(text).digest('hex'));
    expect(buildManifest([b, a]).files.map((f) => f.path)).toEqual([
      'config.json',
      'model.safetensors',
    ]);
  });

  it('changes when any byte count or digest changes', () => {
    const base = buildManifest([a, b]).sha256;
    expect(buildManifest([a, { ...b, size: 2001 }]).sha256).not.toBe(base);
    expect(buildManifest([a, { ...b, sha256: '3'.repeat(64) }]).sha256).not.toBe(base);
    expect(buildManifest([a, { ...b, path: 'model-2.safetensors' }]).sha256).not.toBe(base);
  });

  it('refuses a path listed twice', () => {
    expect(() => buildManifest([a, { ...a, size: 3 }])).toThrow(
      'file "config.json" is listed twice',
    );
  });

  it('refuses paths that could leave the model directory', () => {
    expect(pathProblem('a/b.json')).toBeUndefined();
    expect(pathProblem('../etc/passwd')).toBe('has an empty, "." or ".." segment');
    expect(pathProblem('/etc/passwd')).toBe('is absolute');
    expect(pathProblem('a\\b')).toBe('contains a backslash');
    expect(pathProblem('')).toBe('is empty');
  });
});
