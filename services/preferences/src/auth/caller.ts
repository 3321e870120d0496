import { Role } from '@lathe/contracts/lathe/preferences/v1/annotator';
import { ErrorReason } from '@lathe/contracts/lathe/common/v1/error_reason';
import { LatheError } from '@lathe/service-kit';
import type { CallContext } from '@lathe/service-kit';

/** Claim carrying the annotator id: set for this service's own tokens, optional in JWTs. */
export const ANNOTATOR_CLAIM = 'lathe_annotator_id';

/** Who is calling, in this service's terms. */
export interface Caller {
  /** Stable key of the caller (idempotency scope): `annotator:<id>`, `jwt:<sub>`, `admin-token`, `anonymous`. */
  readonly key: string;
  /** The highest role the credentials grant. */
  readonly role: Role;
  /** The annotator the caller acts as, when it is one. */
  readonly annotatorId: string | undefined;
}

const ROLE_NAMES: Readonly<Record<string, Role>> = {
  annotator: Role.ROLE_ANNOTATOR,
  reviewer: Role.ROLE_REVIEWER,
  admin: Role.ROLE_ADMIN,
};

/** Kit role name of a contract role. */
export function roleName(role: Role): string {
  switch (role) {
    case Role.ROLE_ADMIN:
      return 'admin';
    case Role.ROLE_REVIEWER:
      return 'reviewer';
    default:
      return 'annotator';
  }
}

/**
 * The caller of a call, from the principal the kit established. No principal means
 * LATHE_AUTH_MODE=none: an anonymous admin that is no annotator.
 */
export function callerOf(context: CallContext): Caller {
  const p = context.principal;
  if (p === undefined) return { key: 'anonymous', role: Role.ROLE_ADMIN, annotatorId: undefined };
  let role = Role.ROLE_UNSPECIFIED;
  for (const name of p.roles) role = Math.max(role, ROLE_NAMES[name] ?? Role.ROLE_UNSPECIFIED);
  const claimed = p.claims[ANNOTATOR_CLAIM];
  const annotatorId = typeof claimed === 'string' && claimed !== '' ? claimed : undefined;
  return {
    key: annotatorId === undefined ? `jwt:${p.subject}` : `annotator:${annotatorId}`,
    role,
    annotatorId,
  };
}

/** The annotator id of a caller that must act as one (fetching or judging assignments). */
export function requireAnnotator(caller: Caller): string {
  if (caller.annotatorId !== undefined) return caller.annotatorId;
  throw LatheError.failedPrecondition(
    `caller "${caller.key}" is not an annotator: use an annotator token (IssueAnnotatorToken)`,
    [{ type: 'ANNOTATOR', subject: caller.key, description: 'credentials name no annotator' }],
    { reason: ErrorReason.ERROR_REASON_ANNOTATOR_NOT_FOUND },
  );
}

/** Whether the caller may see and revise every annotator's work. */
export function isReviewer(caller: Caller): boolean {
  return caller.role >= Role.ROLE_REVIEWER;
}
