import { parseArgs } from 'node:util';
import { UsageError, numberFlag } from './usage-error.js';

/** A command's flags: name -> whether it takes a value ('string') or is a switch ('boolean'). */
export type FlagSpec = Readonly<Record<string, 'string' | 'boolean'>>;

/**
 * The parsed flags of one command, with typed accessors that name the flag in their errors.
 * Every command also accepts `-h`/`--help`.
 */
export class CommandArgs {
  private constructor(
    private readonly values: Readonly<Record<string, string | boolean | undefined>>,
  ) {}

  /**
   * Parses `argv` strictly (unknown flags and positionals are errors).
   *
   * @returns the flags, or 'help' when --help was given
   * @throws UsageError naming the flag that is unknown, malformed or missing
   */
  static parse(
    argv: readonly string[],
    spec: FlagSpec,
    required: readonly string[] = [],
  ): CommandArgs | 'help' {
    const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
      help: { type: 'boolean', short: 'h' },
    };
    for (const [name, type] of Object.entries(spec)) options[name] = { type };
    let values: Record<string, string | boolean | undefined>;
    try {
      ({ values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }));
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    if (values['help'] === true) return 'help';
    for (const name of required) {
      if (values[name] === undefined) throw new UsageError(`--${name} is required`);
    }
    return new CommandArgs(values);
  }

  /** A string flag's value, if given. */
  string(name: string): string | undefined {
    const v = this.values[name];
    return typeof v === 'string' ? v : undefined;
  }

  /** A required string flag's value (checked by {@link CommandArgs.parse}). */
  required(name: string): string {
    const v = this.string(name);
    if (v === undefined) throw new UsageError(`--${name} is required`);
    return v;
  }

  /** Whether a switch was given. */
  flag(name: string): boolean {
    return this.values[name] === true;
  }

  /** An integer flag, if given. @throws UsageError when it is not an integer */
  integer(name: string): number | undefined {
    return numberFlag(name, this.string(name), 'integer');
  }

  /** A numeric flag, if given. @throws UsageError when it is not a number */
  number(name: string): number | undefined {
    return numberFlag(name, this.string(name));
  }
}
