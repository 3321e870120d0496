import { describe, expect, it } from 'vitest';
import { parseDataText } from './read-data-file.js';

describe('parseDataText', () => {
  it('reads JSON Lines, skipping blank lines and rejecting bad lines with their line number', () => {
    const text = '{"text":"a"}\n\n{"text": oops}\r\n{"text":"c"}\n';
    const out = parseDataText(text, 'd.jsonl');
    expect(out.records.map((r) => r.line)).toEqual([1, 4]);
    expect(out.rejected).toHaveLength(1);
    expect(out.rejected[0]?.line).toBe(3);
    expect(out.rejected[0]?.reason).toMatch(/^not valid JSON \(/);
  });

  it('reads a JSON array and gives each record the line it starts on', () => {
    const text =
      '[\n  {"text": "a,]}\\"["},\n\n  {\n    "text": "b"\n  }, {"x": [1, {"y": 2}]}\n]\n';
    const out = parseDataText(text, 'd.json');
    expect(out.records.map((r) => r.line)).toEqual([2, 4, 6]);
    expect(out.records[0]?.value).toEqual({ text: 'a,]}"[' });
  });

  it('fails a malformed JSON array with the line the parser stopped at, naming the file', () => {
    expect(() => parseDataText('[\n{"text": "a"},\n{"text" "b"}\n]', 'bad.json')).toThrow(
      /^bad\.json: line 3: not valid JSON/,
    );
    expect(() => parseDataText('  [ ', 'x.json')).toThrow(/x\.json: .*not valid JSON/);
  });
});
