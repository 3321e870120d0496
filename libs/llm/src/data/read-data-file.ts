import { readFile } from 'node:fs/promises';
import { DataFileError } from './data-file-error.js';

/** One record of a data file with the 1-based line it starts on. */
export interface RawRecord {
  readonly line: number;
  readonly value: unknown;
}

/** A record that could not be parsed or normalized, with its line and the reason. */
export interface RejectedRecord {
  readonly line: number;
  readonly reason: string;
}

/** A data file split into records. */
export interface ParsedDataFile {
  readonly records: RawRecord[];
  readonly rejected: RejectedRecord[];
}

/**
 * Reads a JSON Lines file or a JSON array file. The format is chosen by content, not extension:
 * a file whose first non-blank character is `[` is a JSON array, anything else is JSON Lines.
 *
 * JSON Lines: each non-blank line is one record; lines that are not valid JSON are rejected with
 * their line number and the parser's reason, the rest are kept. JSON arrays: an invalid file is
 * one error (with the line the parser stopped at), since no record boundary can be trusted.
 *
 * @throws DataFileError when the file cannot be read or a JSON array file is malformed
 */
export async function readDataFile(path: string): Promise<ParsedDataFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new DataFileError(path, undefined, `cannot read: ${(cause as Error).message}`, { cause });
  }
  return parseDataText(text, path);
}

/** {@link readDataFile} on text already in memory; `path` names it in errors. */
export function parseDataText(text: string, path: string): ParsedDataFile {
  const start = text.search(/\S/);
  if (start >= 0 && text[start] === '[') return parseJsonArray(text, path);
  const records: RawRecord[] = [];
  const rejected: RejectedRecord[] = [];
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    const lineText = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (lineText.trim() === '') return;
    try {
      records.push({ line: i + 1, value: JSON.parse(lineText) as unknown });
    } catch (cause) {
      rejected.push({ line: i + 1, reason: `not valid JSON (${(cause as Error).message})` });
    }
  });
  return { records, rejected };
}

function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

function parseJsonArray(text: string, path: string): ParsedDataFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    const message = (cause as Error).message;
    // V8 reports "... at position N" (sometimes with "(line L column C)"); turn it into a line.
    const pos = /position (\d+)/.exec(message);
    const line = pos?.[1] === undefined ? undefined : lineAt(text, Number(pos[1]));
    throw new DataFileError(path, line, `not valid JSON (${message})`, { cause });
  }
  if (!Array.isArray(parsed))
    throw new DataFileError(path, 1, 'a JSON file must hold an array of records');
  const starts = topLevelElementStarts(text);
  const records = (parsed as unknown[]).map((value, i) => ({
    line: lineAt(text, starts[i] ?? 0),
    value,
  }));
  return { records, rejected: [] };
}

/**
 * Offsets where each element of the top-level array starts, found by one scan that tracks
 * nesting and strings (the text is already known to be valid JSON). Used only for line numbers.
 */
function topLevelElementStarts(text: string): number[] {
  const starts: number[] = [];
  let depth = 0;
  let inString = false;
  let expectElement = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === ' ' || c === '\n' || c === '\r' || c === '\t') continue;
    if (depth === 1 && expectElement && c !== ']') {
      starts.push(i);
      expectElement = false;
    }
    if (c === '"') inString = true;
    else if (c === '[' || c === '{') {
      depth++;
      if (depth === 1) expectElement = true;
    } else if (c === ']' || c === '}') depth--;
    else if (c === ',' && depth === 1) expectElement = true;
  }
  return starts;
}
