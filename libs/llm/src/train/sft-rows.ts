import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { loadSftData } from '../data/load-sft-data.js';
import { packSequences, type PackedRow, type PackingStats } from '../data/pack-sequences.js';
import type { RejectedRecord } from '../data/read-data-file.js';
import { tokenizeExample, type TokenizedExample } from '../data/tokenize-example.js';
import { DataFileError } from '../data/data-file-error.js';
import type { SeededRandom } from '../optim/seeded-random.js';
import type { TextTokenizer } from '../tokenizer/text-tokenizer.js';

/** A data file turned into packed rows, with what was dropped or cut on the way. */
export interface SftRows {
  readonly path: string;
  /** sha256 of the file's bytes: identifies the data in checkpoints. */
  readonly sha256: string;
  readonly examples: number;
  readonly rows: PackedRow[];
  readonly stats: PackingStats;
  readonly rejected: RejectedRecord[];
  /** Target tokens over all rows. */
  readonly targetTokens: number;
}

/**
 * Loads, normalizes, tokenizes (prompt tokens masked) and packs a data file. The examples are put
 * in a seeded order before packing when `order` is given (training), else kept in file order
 * (evaluation).
 *
 * @throws DataFileError for unreadable files, bad records (unless skipped) or no trainable tokens
 */
export async function prepareSftRows(
  path: string,
  tokenizer: TextTokenizer,
  options: { seqLen: number; pack: boolean; skipBadRecords: boolean; order?: SeededRandom },
): Promise<SftRows> {
  const sha256 = createHash('sha256')
    .update(
      await readFile(path).catch((cause: unknown) => {
        throw new DataFileError(path, undefined, `cannot read: ${(cause as Error).message}`, {
          cause,
        });
      }),
    )
    .digest('hex');
  const data = await loadSftData(path, { skipBadRecords: options.skipBadRecords });
  const rejected = [...data.rejected];
  const tokenized: TokenizedExample[] = [];
  for (const e of data.examples) {
    try {
      tokenized.push(tokenizeExample(e.example, tokenizer));
    } catch (cause) {
      // A chat template may refuse a conversation (raise_exception, e.g. roles that do not alternate).
      const reason = `cannot apply the chat template: ${(cause as Error).message}`;
      if (!options.skipBadRecords) throw new DataFileError(path, e.line, reason, { cause });
      rejected.push({ line: e.line, reason });
    }
  }
  const order = tokenized.map((_, i) => i);
  options.order?.shuffle(order);
  const { rows, stats } = packSequences(
    order.map((i) => tokenized[i]!),
    options.seqLen,
    options.pack,
  );
  if (rows.length === 0)
    throw new DataFileError(
      path,
      undefined,
      `no example has a trainable token within ${options.seqLen} tokens`,
    );
  const targetTokens = rows.reduce((s, r) => s + r.targetTokens, 0);
  return {
    path,
    sha256,
    examples: tokenized.length,
    rows,
    stats,
    rejected,
    targetTokens,
  };
}
