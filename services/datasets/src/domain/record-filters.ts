import type { CanonicalRecord } from './canonical-record.js';
import { mapRecordText, recordTurns } from './canonical-record.js';

/** Why a filter removed a record, for the removal report. */
export interface FilterHit {
  readonly detail: string;
}

/** The first empty or whitespace-only turn, if any. */
export function findEmptyTurn(record: CanonicalRecord): FilterHit | undefined {
  const turns = recordTurns(record);
  const i = turns.findIndex((t) => t.content.trim() === '');
  return i < 0 ? undefined : { detail: `turn ${i + 1} (${turns[i]?.role ?? '?'}) is empty` };
}

/** Junk thresholds with the contract's defaults applied; 0 disables a check. */
export interface JunkOptions {
  readonly maxCharRun: number;
  readonly maxRepeatedNgramFraction: number;
}

/** A repeated n-gram fraction is only judged on turns with at least this many trigrams. */
const MIN_TRIGRAMS_FOR_REPETITION = 10;

/** The first junk finding: a run of one character longer than allowed, or a repeated trigram. */
export function findJunk(record: CanonicalRecord, options: JunkOptions): FilterHit | undefined {
  for (const turn of recordTurns(record)) {
    if (options.maxCharRun > 0) {
      const run = longestRun(turn.content);
      if (run.length > options.maxCharRun)
        return {
          detail: `run of ${run.length} ${JSON.stringify(run.char)} > ${options.maxCharRun}`,
        };
    }
    if (options.maxRepeatedNgramFraction > 0) {
      const words = turn.content
        .toLowerCase()
        .split(/\s+/)
        .filter((w) => w !== '');
      const total = words.length - 2;
      if (total >= MIN_TRIGRAMS_FOR_REPETITION) {
        const counts = new Map<string, number>();
        let top = 0;
        let topGram = '';
        for (let i = 0; i < total; i++) {
          const gram = `${words[i]} ${words[i + 1]} ${words[i + 2]}`;
          const c = (counts.get(gram) ?? 0) + 1;
          counts.set(gram, c);
          if (c > top) [top, topGram] = [c, gram];
        }
        if (top > 1 && top / total > options.maxRepeatedNgramFraction)
          return {
            detail: `trigram ${JSON.stringify(topGram)} is ${((100 * top) / total).toFixed(0)}% of the turn's trigrams > ${(100 * options.maxRepeatedNgramFraction).toFixed(0)}%`,
          };
      }
    }
  }
  return undefined;
}

function longestRun(text: string): { char: string; length: number } {
  let best = { char: '', length: 0 };
  let i = 0;
  const chars = [...text];
  while (i < chars.length) {
    let j = i + 1;
    while (j < chars.length && chars[j] === chars[i]) j++;
    if (j - i > best.length) best = { char: chars[i] ?? '', length: j - i };
    i = j;
  }
  return best;
}

/** The kinds of personal data this service can find today. */
export type PiiKindName = 'email' | 'phone';

const PII_PATTERNS: Readonly<Record<PiiKindName, { pattern: RegExp; placeholder: string }>> = {
  email: {
    pattern: /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/g,
    placeholder: '[EMAIL]',
  },
  // E.164 (+ and 8-15 digits, separators allowed) and common national layouts such as
  // (555) 123-4567, 555-123-4567, 030 1234 5678: at least 9 digits in groups.
  phone: {
    pattern:
      /(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?|\d{2,4}[\s.-])\d{3,4}[\s.-]?\d{3,4}(?!\w)/g,
    placeholder: '[PHONE]',
  },
};

/** Personal data found in a record: which kinds, how many matches, and the redacted record. */
export interface PiiFinding {
  readonly matches: number;
  readonly kinds: PiiKindName[];
  readonly redacted: CanonicalRecord;
}

/** Looks for the given kinds; undefined when the record has none. */
export function findPii(
  record: CanonicalRecord,
  kinds: readonly PiiKindName[],
): PiiFinding | undefined {
  let matches = 0;
  const found = new Set<PiiKindName>();
  const redacted = mapRecordText(record, (text) => {
    let out = text;
    for (const kind of kinds) {
      const { pattern, placeholder } = PII_PATTERNS[kind];
      out = out.replace(pattern, () => {
        matches++;
        found.add(kind);
        return placeholder;
      });
    }
    return out;
  });
  return matches === 0 ? undefined : { matches, kinds: [...found], redacted };
}
