/**
 * The built-in bundle (version 0), active until a signed bundle is pushed:
 * the root token and members of the `admins` group may do everything, but
 * destructive actions need a second factor. The root token counts as
 * multi-factor (context.mfa = true) because only a quorum of unseal-share
 * holders can produce one. Everything else is denied (Cedar's default).
 */

export const DEFAULT_BUNDLE_VERSION = 0;
export const DEFAULT_BUNDLE_ISSUED_AT = '1970-01-01T00:00:00Z';

export const DEFAULT_POLICIES = `@id("root")
permit(principal == Keyhold::User::"root", action, resource);

@id("admins")
permit(principal in Keyhold::Group::"admins", action, resource);

@id("destructive-needs-mfa")
forbid(principal, action in Keyhold::Action::"destructive", resource)
unless { context.mfa };
`;

/** The default bundle in the same JSON form as a pushed one (its sha256 is over these bytes). */
export const DEFAULT_BUNDLE_BYTES: Uint8Array = new TextEncoder().encode(
  JSON.stringify({ version: DEFAULT_BUNDLE_VERSION, issuedAt: DEFAULT_BUNDLE_ISSUED_AT, policies: DEFAULT_POLICIES, entities: [] }, null, 2),
);
