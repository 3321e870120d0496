/**
 * Test helpers for Lathe services (`@lathe/service-kit/testing`): start a service's real entry
 * point as a child process, probe it over real gRPC, and mint tokens. Never imported by
 * production code.
 */
export { spawnProcess, spawnService } from './spawn-service.js';
export type { SpawnedService, SpawnOptions } from './spawn-service.js';
export { checkHealth } from './probes.js';
export { signTestToken, unsignedTestToken } from './test-tokens.js';
export type { TestTokenClaims } from './test-tokens.js';
export { REPO_ROOT, runUntilExit, startServiceUnderTest } from './service-under-test.js';
export type { ServiceUnderTest } from './service-under-test.js';
export { describeServiceProcess } from './describe-service-process.js';
export type { ServiceProcessSpec } from './describe-service-process.js';
