import type { FieldViolation } from '@lathe/service-kit';
import { ChatRole } from '@lathe/contracts/lathe/common/v1/chat';
import type { ChatMessage } from '@lathe/contracts/lathe/common/v1/chat';

/**
 * Size limits of stored fields. They bound what one request can make the service store and
 * render (a 10 MB "response" is refused by name rather than written to every annotator's page).
 */
export const LIMITS = {
  /** Characters in one chat message. */
  messageChars: 32_768,
  /** Messages in a prompt or a candidate. */
  messages: 64,
  /** Candidates of an item. */
  candidates: 8,
  /** Items per request. */
  items: 1000,
  /** Pairs per SubmitPairs request. */
  pairs: 1000,
  /** Characters of a rationale. */
  rationaleChars: 4000,
  /** Characters of instructions. */
  instructionsChars: 20_000,
  /** Characters of short texts: names, ids, keys, sources, descriptions. */
  shortChars: 256,
  /** Metadata entries and the characters of one value. */
  metadataEntries: 32,
  metadataValueChars: 1024,
} as const;

/** Collects field violations of a request with dotted paths (`items[3].candidates[0].messages[1].content`). */
export class FieldChecks {
  readonly violations: FieldViolation[] = [];

  fail(field: string, description: string): void {
    this.violations.push({ field, description });
  }

  short(field: string, value: string, required = false): void {
    if (required && value === '') this.fail(field, 'is required');
    if (value.length > LIMITS.shortChars)
      this.fail(
        field,
        `is ${String(value.length)} characters, more than ${String(LIMITS.shortChars)}`,
      );
  }

  text(field: string, value: string, max: number): void {
    if (value.length > max)
      this.fail(field, `is ${String(value.length)} characters, more than ${String(max)}`);
  }

  messages(field: string, messages: readonly ChatMessage[], required: boolean): void {
    if (required && messages.length === 0) this.fail(field, 'must hold at least one message');
    if (messages.length > LIMITS.messages)
      this.fail(
        field,
        `has ${String(messages.length)} messages, more than ${String(LIMITS.messages)}`,
      );
    messages.slice(0, LIMITS.messages).forEach((m, i) => {
      if (m.role === ChatRole.CHAT_ROLE_UNSPECIFIED || m.role === ChatRole.UNRECOGNIZED)
        this.fail(`${field}[${String(i)}].role`, 'must be a known chat role');
      this.text(`${field}[${String(i)}].content`, m.content, LIMITS.messageChars);
    });
  }

  metadata(field: string, metadata: Readonly<Record<string, string>>): void {
    const entries = Object.entries(metadata);
    if (entries.length > LIMITS.metadataEntries)
      this.fail(
        field,
        `has ${String(entries.length)} entries, more than ${String(LIMITS.metadataEntries)}`,
      );
    for (const [k, v] of entries.slice(0, LIMITS.metadataEntries)) {
      this.short(`${field}.key`, k, true);
      this.text(`${field}["${k.slice(0, 64)}"]`, v, LIMITS.metadataValueChars);
    }
  }
}
