import { readFile } from 'node:fs/promises';
import { DataFileError } from '../data/data-file-error.js';
import type { PreferencePair } from './preference-pair.js';

/**
 * Parses the `--pairs` JSON of `lathe grads --objective dpo`:
 * `[{"prompt": [ids], "chosen": [ids], "rejected": [ids], "weight"?: w}, ...]`. Each id must be
 * an integer below `vocabSize`; the prompt (BOS included, if the model wants one) and both
 * responses must be non-empty. Errors name the file, the pair and the field.
 */
export function parsePairTokens(text: string, file: string, vocabSize: number): PreferencePair[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new DataFileError(file, undefined, `not valid JSON (${(cause as Error).message})`, {
      cause,
    });
  }
  if (!Array.isArray(value) || value.length === 0)
    throw new DataFileError(
      file,
      undefined,
      'expected a non-empty JSON array of {prompt, chosen, rejected} objects',
    );
  return value.map((item: unknown, i): PreferencePair => {
    if (typeof item !== 'object' || item === null || Array.isArray(item))
      throw new DataFileError(
        file,
        undefined,
        `pair ${i}: expected an object with prompt, chosen and rejected`,
      );
    const r = item as Record<string, unknown>;
    const ids = (field: string): number[] => {
      const v = r[field];
      if (!Array.isArray(v) || v.length === 0)
        throw new DataFileError(
          file,
          undefined,
          `pair ${i}: "${field}" must be a non-empty list of token ids`,
        );
      return v.map((id: unknown, t) => {
        if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= vocabSize)
          throw new DataFileError(
            file,
            undefined,
            `pair ${i}: ${field}[${t}] = ${JSON.stringify(id)} is not a token id of this model (0..${vocabSize - 1})`,
          );
        return id;
      });
    };
    const weight = r['weight'] ?? 1;
    if (typeof weight !== 'number' || !(weight > 0) || !Number.isFinite(weight))
      throw new DataFileError(file, undefined, `pair ${i}: "weight" must be a positive number`);
    return { prompt: ids('prompt'), chosen: ids('chosen'), rejected: ids('rejected'), weight };
  });
}

/** {@link parsePairTokens} on a file. */
export async function readPairTokens(file: string, vocabSize: number): Promise<PreferencePair[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new DataFileError(file, undefined, `cannot read: ${(cause as Error).message}`, { cause });
  }
  return parsePairTokens(text, file, vocabSize);
}
