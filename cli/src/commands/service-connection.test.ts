import { afterEach, describe, expect, it, vi } from 'vitest';
import { CommandArgs } from '../command-args.js';
import {
  DATASETS_ENDPOINT,
  PREFERENCES_ENDPOINT,
  connectionOf,
  parseServiceCommand,
} from './service-connection.js';

const VARIABLES = [
  'LATHE_PREFERENCES_ADDR',
  'LATHE_PREFERENCES_TOKEN',
  'LATHE_TOKEN',
  'LATHE_DATASETS_ADDR',
];

function flags(argv: string[]): CommandArgs {
  const args = CommandArgs.parse(argv, {
    preferences: 'string',
    datasets: 'string',
    token: 'string',
  });
  if (args === 'help') throw new Error('unexpected --help');
  return args;
}

describe('connectionOf', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });
  const unset = (): void => {
    for (const v of VARIABLES) vi.stubEnv(v, undefined);
  };

  it('takes the flags first, then the variables, then the local default', () => {
    unset();
    expect(connectionOf(PREFERENCES_ENDPOINT, flags([]))).toEqual({
      address: '127.0.0.1:50062',
      token: undefined,
    });
    vi.stubEnv('LATHE_PREFERENCES_ADDR', 'prefs:1');
    vi.stubEnv('LATHE_TOKEN', 'any-service');
    expect(connectionOf(PREFERENCES_ENDPOINT, flags([]))).toEqual({
      address: 'prefs:1',
      token: 'any-service',
    });
    vi.stubEnv('LATHE_PREFERENCES_TOKEN', 'prefs-only');
    expect(connectionOf(PREFERENCES_ENDPOINT, flags([]))).toEqual({
      address: 'prefs:1',
      token: 'prefs-only',
    });
    expect(
      connectionOf(PREFERENCES_ENDPOINT, flags(['--preferences', 'p:2', '--token', 'flag'])),
    ).toEqual({ address: 'p:2', token: 'flag' });
    // Each service reads its own address flag and variable only.
    expect(connectionOf(DATASETS_ENDPOINT, flags(['--preferences', 'p:2']))).toEqual({
      address: '127.0.0.1:50061',
      token: 'any-service',
    });
  });

  it('sends no token when the one found is empty, without looking further', () => {
    unset();
    vi.stubEnv('LATHE_PREFERENCES_TOKEN', '');
    vi.stubEnv('LATHE_TOKEN', 'not-this-one');
    expect(connectionOf(PREFERENCES_ENDPOINT, flags([])).token).toBeUndefined();
    expect(connectionOf(DATASETS_ENDPOINT, flags(['--token', ''])).token).toBeUndefined();
  });
});

describe('parseServiceCommand', () => {
  function parse(argv: string[]) {
    const out: string[] = [];
    const err: string[] = [];
    const o = vi.spyOn(process.stdout, 'write').mockImplementation((c) => out.push(String(c)) > 0);
    const e = vi.spyOn(process.stderr, 'write').mockImplementation((c) => err.push(String(c)) > 0);
    try {
      const parsed = parseServiceCommand(
        DATASETS_ENDPOINT,
        'datasets',
        'usage: lathe datasets show NAME',
        argv,
        { records: 'string' },
        (words) => {
          if (words[0] !== 'show') throw new Error('expected: lathe datasets show NAME');
        },
      );
      return { parsed, out: out.join(''), err: err.join('') };
    } finally {
      o.mockRestore();
      e.mockRestore();
    }
  }

  it('returns the words and flags, the connection flags included', () => {
    const { parsed } = parse(['show', 'x', '--records', '2', '--datasets', 'd:1', '--token', 't']);
    if (typeof parsed === 'number') throw new Error(`exit ${String(parsed)}`);
    expect(parsed.words).toEqual(['show', 'x']);
    expect([parsed.args.string('records'), parsed.args.string('datasets')]).toEqual(['2', 'd:1']);
  });

  it('prints the usage on --help (0) and one usage error on a bad word or flag (2)', () => {
    expect(parse(['--help'])).toEqual({
      parsed: 0,
      out: 'usage: lathe datasets show NAME\n',
      err: '',
    });
    expect(parse(['frobnicate'])).toEqual({
      parsed: 2,
      out: '',
      err: 'lathe datasets: expected: lathe datasets show NAME\n(see lathe datasets --help)\n',
    });
    expect(parse(['show', 'x', '--registry', 'r:1']).parsed).toBe(2);
  });
});
