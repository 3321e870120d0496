import { LatheError } from '../errors/lathe-error.js';
import type { FieldViolation, LatheErrorOptions } from '../errors/lathe-error.js';

/** Lathe resource names: lowercase letters, digits and '-', 1 to 63 characters, starting with a letter. */
export const RESOURCE_NAME = /^[a-z][a-z0-9-]{0,62}$/;

/**
 * Collects every problem of a request before answering, so a caller fixes all fields in one
 * round trip; {@link RequestValidator.throwIfInvalid} throws one INVALID_ARGUMENT listing them.
 */
export class RequestValidator {
  private readonly found: FieldViolation[] = [];

  /** Records a violation of `field` unless `ok`. */
  check(ok: boolean, field: string, description: string): this {
    if (!ok) this.found.push({ field, description });
    return this;
  }

  /** `value` must be a non-empty string. */
  required(field: string, value: string): this {
    return this.check(value !== '', field, 'is required');
  }

  /** `value` must be a Lathe resource name ({@link RESOURCE_NAME}). */
  resourceName(field: string, value: string): this {
    if (value === '') return this.required(field, value);
    return this.check(
      RESOURCE_NAME.test(value),
      field,
      `must be lowercase letters, digits and '-', 1 to 63 characters, starting with a letter; got "${value}"`,
    );
  }

  /** `value` must be an integer in [min, max]. */
  intInRange(field: string, value: number, min: number, max: number): this {
    return this.check(
      Number.isInteger(value) && value >= min && value <= max,
      field,
      `must be an integer from ${String(min)} to ${String(max)}; got ${String(value)}`,
    );
  }

  /** `value` (a proto enum) must be set, i.e. not its UNSPECIFIED zero or an unknown value. */
  enumSet(field: string, value: number): this {
    return this.check(value > 0, field, 'must be set to a known value');
  }

  /** `value` (a message field) must be present. */
  present(field: string, value: unknown): this {
    return this.check(value !== undefined && value !== null, field, 'is required');
  }

  /** A `lathe.common.v1.ModelRef`: present, with a valid name and, if given, a positive version or a named alias. */
  modelRef(
    field: string,
    ref:
      | {
          name: string;
          selector?:
            { $case: 'version'; version: number } | { $case: 'alias'; alias: string } | undefined;
        }
      | undefined,
  ): this {
    if (ref === undefined) return this.present(field, ref);
    this.resourceName(`${field}.name`, ref.name);
    if (ref.selector?.$case === 'version')
      this.check(ref.selector.version >= 1, `${field}.version`, 'must be 1 or more');
    if (ref.selector?.$case === 'alias') this.required(`${field}.alias`, ref.selector.alias);
    return this;
  }

  /** Violations so far. */
  get violations(): readonly FieldViolation[] {
    return this.found;
  }

  /** Throws INVALID_ARGUMENT with every violation, if any. */
  throwIfInvalid(options: LatheErrorOptions = {}): void {
    if (this.found.length > 0) throw LatheError.invalidArgument(this.found, options);
  }
}

/** Runs `rules` against a fresh validator and throws INVALID_ARGUMENT if any failed. */
export function validateRequest(rules: (v: RequestValidator) => void): void {
  const v = new RequestValidator();
  rules(v);
  v.throwIfInvalid();
}
