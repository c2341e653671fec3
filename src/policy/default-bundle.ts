/**
 * The built-in bundle (version 0), active until a signed bundle is pushed:
 * the root token and members of the `admins` group may do everything, but
 * destructive actions need a second factor. The root token counts as
 * multi-factor (context.mfa = true) because only a quorum of unseal-share
 * holders can produce one. Every signed-in identity may act on its own
 * session and account (renew, logout, TOTP enrolment: resource == principal);
 * enrolment itself needs an administrator's single-use code (auth/totp.ts),
 * so a password alone never becomes a second factor. An attested workload (a role of auth.attestRoles,
 * whose measurements the operator pinned) may read the secrets in the folder
 * named after its role, `web/...` for role `web`, and nothing else. Everything
 * else is denied (Cedar's default).
 *
 * The VSSM API (served only where compat.vssm is configured) works out of the
 * box as VSSM does: any client whose certificate chains to the VSSM client
 * trust store (group vssm-clients) may run the crypto operations, and the
 * holder of the VSSM admin password (group vssm-admins) the admin ones, each
 * only through the VSSM surface (context.apiSurface == "vssm"), never /v1.
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

@id("self-service")
permit(
  principal,
  action in [Keyhold::Action::"renewToken", Keyhold::Action::"logout", Keyhold::Action::"enrollTotp", Keyhold::Action::"confirmTotp"],
  resource
)
when { resource == principal };

@id("workloads-read-own-namespace")
permit(principal is Keyhold::Workload, action == Keyhold::Action::"readSecret", resource is Keyhold::Secret)
when { principal has role && resource.namespace == principal.role };

@id("vssm-clients")
permit(
  principal in Keyhold::Group::"vssm-clients",
  action in [Keyhold::Action::"encrypt", Keyhold::Action::"decrypt", Keyhold::Action::"sign", Keyhold::Action::"verify", Keyhold::Action::"hmac", Keyhold::Action::"verifyHmac"],
  resource
)
when { context.apiSurface == "vssm" };

@id("vssm-admin")
permit(
  principal in Keyhold::Group::"vssm-admins",
  action in [Keyhold::Action::"createKey", Keyhold::Action::"importKey", Keyhold::Action::"listKeys", Keyhold::Action::"readKey", Keyhold::Action::"backupKeys", Keyhold::Action::"restoreKeys", Keyhold::Action::"readAuditLog"],
  resource
)
when { context.apiSurface == "vssm" };
`;

/** The default bundle in the same JSON form as a pushed one (its sha256 is over these bytes). */
export const DEFAULT_BUNDLE_BYTES: Uint8Array = new TextEncoder().encode(
  JSON.stringify({ version: DEFAULT_BUNDLE_VERSION, issuedAt: DEFAULT_BUNDLE_ISSUED_AT, policies: DEFAULT_POLICIES, entities: [] }, null, 2),
);
