import { LatheError } from '../errors/lathe-error.js';
import type { Principal } from './jwt-verifier.js';

/**
 * Who may call each rpc of a service: the roles, any one of which suffices. Declared next to the
 * service's handlers and keyed by the definition's method names, so the compiler rejects a table
 * that forgets an rpc (no method is ever open by omission).
 */
export type MethodRoles<D> = { readonly [K in keyof D]: readonly string[] };

/** Throws PERMISSION_DENIED unless `principal` holds one of `required`. */
export function authorize(method: string, required: readonly string[], principal: Principal): void {
  if (required.some((role) => principal.roles.includes(role))) return;
  throw LatheError.permissionDenied(
    `${method} requires one of the roles ${required.join(', ')}; "${principal.subject}" has ${principal.roles.length === 0 ? 'none' : principal.roles.join(', ')}`,
    {
      metadata: { requiredRole: required.join(',') },
    },
  );
}
