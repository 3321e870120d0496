import { createHash } from 'node:crypto';

/** One file of a model version as the manifest lists it. */
export interface ManifestFile {
  /** Path relative to the model root, '/'-separated. */
  readonly path: string;
  /** Lowercase hex SHA-256 of the bytes. */
  readonly sha256: string;
  /** Size in bytes. */
  readonly size: number;
}

/** A version's manifest: its files sorted by path, and the digest that identifies the version. */
export interface Manifest {
  readonly files: readonly ManifestFile[];
  /** Lowercase hex SHA-256 of {@link manifestText}. */
  readonly sha256: string;
}

/**
 * The canonical text hashed into a version's identity: one `<sha256> <size> <path>\n` line per
 * file in path order (code-point order, so the digest does not depend on a locale).
 */
export function manifestText(files: readonly ManifestFile[]): string {
  return sortFiles(files)
    .map((f) => `${f.sha256} ${String(f.size)} ${f.path}\n`)
    .join('');
}

/** Builds the manifest of `files`; a duplicate path is refused, since a version is a directory. */
export function buildManifest(files: readonly ManifestFile[]): Manifest {
  const sorted = sortFiles(files);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]?.path === sorted[i - 1]?.path)
      throw new Error(`file "${sorted[i]?.path ?? ''}" is listed twice`);
  }
  const sha256 = createHash('sha256').update(manifestText(sorted)).digest('hex');
  return { files: sorted, sha256 };
}

function sortFiles(files: readonly ManifestFile[]): ManifestFile[] {
  return [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * Checks a model-relative path: '/'-separated, no empty, `.` or `..` segments, no leading '/',
 * no backslashes. Returns the reason it is refused, or undefined when it is fine.
 */
export function pathProblem(path: string): string | undefined {
  if (path === '') return 'is empty';
  if (path.includes('\\')) return 'contains a backslash';
  if (path.startsWith('/')) return 'is absolute';
  if (path.split('/').some((s) => s === '' || s === '.' || s === '..'))
    return 'has an empty, "." or ".." segment';
  if (path.length > 512) return 'is longer than 512 characters';
  return undefined;
}
