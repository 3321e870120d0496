import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { status } from '@grpc/grpc-js';
import { PreferenceServiceService } from '@lathe/contracts/lathe/preferences/v1/preference_service';
import { describeServiceProcess, runUntilExit } from '@lathe/service-kit/testing';
import { describe, expect, it } from 'vitest';

const ENTRY = fileURLToPath(new URL('../src/main.ts', import.meta.url));

// The kit's process checks on the real entry point (embedded store and bus). Every rpc is built,
// so the well-formed GetTask must answer NOT_FOUND on the empty store instead of UNIMPLEMENTED.
describeServiceProcess({
  entry: ENTRY,
  service: 'preferences',
  fullName: 'lathe.preferences.v1.PreferenceService',
  definition: PreferenceServiceService,
  role: 'annotator',
  method: 'GetTask',
  malformed: (c) => c.getTask({ taskId: '' }),
  malformedFields: ['taskId'],
  valid: (c) => c.getTask({ taskId: 'absent' }),
  validCode: status.NOT_FOUND,
  env: { LATHE_PREFERENCES_WEB_PORT: '0' },
});

describe('the preferences service process at start', () => {
  it('stops with one line naming an invalid rate limit', async () => {
    const invalid = await runUntilExit(ENTRY, {
      LATHE_AUTH_MODE: 'none',
      LATHE_PREFERENCES_RATE_BURST: 'many',
    });
    expect(invalid).toEqual({
      code: 78,
      stderr: [
        'preferences: invalid configuration: LATHE_PREFERENCES_RATE_BURST must be an integer, got "many"',
      ],
    });
  });

  it('exits 1, releasing what it opened, when the web page port is taken', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const address = taken.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    try {
      const run = await runUntilExit(ENTRY, {
        LATHE_AUTH_MODE: 'none',
        LATHE_PREFERENCES_WEB_PORT: String(port),
      });
      expect(run.code).toBe(1);
    } finally {
      taken.close();
    }
  }, 60_000);
});
