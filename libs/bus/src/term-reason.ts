/** The first nats-server release that reads the reason of `+TERM <reason>`. */
const FIRST_VERSION_WITH_TERM_REASON = [2, 10, 4] as const;

/**
 * Whether a nats-server of `version` (its INFO's `version`, e.g. `2.9.10`) removes a message
 * terminated with a reason. Older servers do not recognise `+TERM <reason>` as a terminate and
 * redeliver the message after the ack wait, so only a plain `+TERM` is safe with them. An unknown
 * or unparsable version counts as old: losing the reason costs a debug aid, a redelivery costs a
 * second run of a refused or dead-lettered message.
 * @internal
 */
export function serverReadsTermReason(version: string | undefined): boolean {
  const parsed = /^v?(\d+)\.(\d+)\.(\d+)/.exec(version ?? '');
  if (parsed === null) return false;
  const found = [Number(parsed[1]), Number(parsed[2]), Number(parsed[3])];
  for (let i = 0; i < FIRST_VERSION_WITH_TERM_REASON.length; i++) {
    const have = found[i] ?? 0;
    const need = FIRST_VERSION_WITH_TERM_REASON[i] ?? 0;
    if (have !== need) return have > need;
  }
  return true;
}
