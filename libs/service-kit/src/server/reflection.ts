import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSync } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';

/**
 * Finds the repository's `proto/` directory by walking up from this module (it sits at the same
 * place relative to `src/` and `dist/src/`), so reflection serves the very files code was
 * generated from. Returns undefined when there is none (an install without protos).
 */
export function findProtoDir(
  from: string = dirname(fileURLToPath(import.meta.url)),
): string | undefined {
  let dir = from;
  for (;;) {
    const candidate = join(dir, 'proto');
    if (existsSync(join(candidate, 'buf.yaml')) && existsSync(join(candidate, 'lathe')))
      return candidate;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/**
 * Server reflection (v1 and v1alpha) for one service, fed the descriptors of its proto file and
 * everything that file imports, loaded from `protoDir`.
 */
export function reflectionFor(
  serviceName: string,
  protoFile: string,
  protoDir: string,
): ReflectionService {
  const path = join(protoDir, protoFile);
  if (!existsSync(path)) {
    throw new Error(
      `reflection for ${serviceName} needs ${protoFile}, which is not under ${protoDir} (set LATHE_PROTO_DIR)`,
    );
  }
  const definition = loadSync(protoFile, {
    includeDirs: [protoDir],
    keepCase: false,
    longs: Number,
    enums: String,
    defaults: false,
  });
  return new ReflectionService(definition, { services: [serviceName] });
}
