import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { MESH_SERVICES, findRepoRoot, startLocalMesh } from './local-mesh.js';

const root = findRepoRoot(fileURLToPath(new URL('.', import.meta.url)));
const built = MESH_SERVICES.every((s) =>
  existsSync(join(root, 'services', s, 'dist', 'src', 'main.js')),
);

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.end();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

// The mesh runs the services' built entry points; `pnpm build` (which CI runs before the tests)
// makes them. Five processes take minutes to load on a busy 2-core machine: long timeouts.
describe.skipIf(!built)('local mesh (needs `pnpm build`: services/*/dist missing)', () => {
  test('starts the five services on consecutive ports and stops them all', async () => {
    const basePort = 41000 + Math.floor(Math.random() * 5000);
    const mesh = await startLocalMesh({ root, basePort, webPort: 0 });
    try {
      expect(mesh.members.map((m) => m.service)).toEqual([...MESH_SERVICES]);
      expect(mesh.members.map((m) => m.port)).toEqual([0, 1, 2, 3, 4].map((i) => basePort + i));
      for (const m of mesh.members) expect(await accepts(m.port)).toBe(true);
    } finally {
      await mesh.stop();
    }
    for (const m of mesh.members) expect(await accepts(m.port)).toBe(false);
  }, 600_000);

  test('a service that cannot start is named and the others are stopped', async () => {
    const basePort = 46000 + Math.floor(Math.random() * 5000);
    const first = await startLocalMesh({ root, basePort, webPort: 0 });
    try {
      // Same ports again: every service of the second mesh finds its port taken.
      await expect(startLocalMesh({ root, basePort, webPort: 0 })).rejects.toThrow(
        /^(datasets|preferences|quantization|training|registry) exited with code 1 while starting: .*start failed: cannot listen on 127\.0\.0\.1:\d+.*EADDRINUSE/,
      );
    } finally {
      await first.stop();
    }
  }, 900_000);
});

test('findRepoRoot names the folder it searched from when there is no checkout', () => {
  expect(() => findRepoRoot('/')).toThrow(/no Lathe checkout .* \//);
});
