/**
 * Raised when a test asks for a server that none of the resolution paths can provide. The message
 * names what was tried and the environment variable that would fix it.
 */
export class TestServerUnavailableError extends Error {
  override readonly name = 'TestServerUnavailableError';

  /**
   * @param server - which server was wanted ("NATS", "PostgreSQL").
   * @param envVar - the variable that points tests at an existing server.
   * @param attempts - one line per path tried and why it failed.
   */
  constructor(
    readonly server: string,
    readonly envVar: string,
    readonly attempts: readonly string[],
    options?: ErrorOptions,
  ) {
    super(
      `no ${server} server reachable for tests; set ${envVar} to point at one. Tried:\n` +
        attempts.map((a) => `  - ${a}`).join('\n'),
      options,
    );
  }
}
