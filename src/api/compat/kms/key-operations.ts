/**
 * KMS key lifecycle over KeyManager: CreateKey, DescribeKey, ListKeys,
 * EnableKey, DisableKey, key rotation, scheduled deletion and tags.
 */
import { randomUUID } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import { KEY_NAME_PATTERN } from '../../../keys/key-name.js';
import { usagesOf, type KeyUsage } from '../../../keys/key-usage.js';
import type { KeyType } from '../../../keys/key-type-names.js';
import type { ManagedKey } from '../../../keys/managed-key.js';
import { KmsError, invalidState, unsupported, validation } from './kms-errors.js';
import { GrantTokens, Input, KeyId, epochSeconds } from './kms-inputs.js';
import { keyTarget, operation, type KmsDeps } from './kms-operation.js';
import { CREATABLE_SPECS, isSymmetric, KEYHOLD_USAGE, UNSUPPORTED_SPECS } from './key-specs.js';
import { keyMetadata } from './key-metadata.js';

const DAY_SECONDS = 86_400;
const MAX_TAGS = 50;
const KEY_NAME = new RegExp(KEY_NAME_PATTERN);

export const Tag = Type.Object({ TagKey: Type.String({ minLength: 1, maxLength: 128 }), TagValue: Type.String({ maxLength: 256 }) }, { additionalProperties: true });

/** Tags of one request as a map. @throws KmsError TagException for reserved or repeated keys */
export function tagMap(tags: readonly { TagKey: string; TagValue: string }[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const { TagKey, TagValue } of tags) {
    if (TagKey.toLowerCase().startsWith('aws:')) throw new KmsError('TagException', `Tag keys beginning with aws: are reserved`, 'KH_BAD_REQUEST');
    if (Object.hasOwn(out, TagKey)) throw new KmsError('TagException', `Duplicate tag key ${TagKey}`, 'KH_BAD_REQUEST');
    out[TagKey] = TagValue;
  }
  return out;
}

function checkTagCount(tags: Record<string, string>): Record<string, string> {
  if (Object.keys(tags).length > MAX_TAGS) throw new KmsError('LimitExceededException', `A key can have at most ${MAX_TAGS} tags`, 'KH_BAD_REQUEST');
  return tags;
}

/** Creation input -> Keyhold type and usage, with KMS's rules and Keyhold's gaps. */
function typeAndUsage(input: { KeySpec?: string | undefined; CustomerMasterKeySpec?: string | undefined; KeyUsage?: string | undefined }): { type: KeyType; usage: KeyUsage } {
  if (input.KeySpec !== undefined && input.CustomerMasterKeySpec !== undefined && input.KeySpec !== input.CustomerMasterKeySpec)
    throw validation('KeySpec and CustomerMasterKeySpec differ; use KeySpec');
  const spec = input.KeySpec ?? input.CustomerMasterKeySpec ?? 'SYMMETRIC_DEFAULT';
  const reason = UNSUPPORTED_SPECS[spec];
  if (reason !== undefined) throw unsupported(reason);
  const type = CREATABLE_SPECS[spec];
  if (type === undefined) throw validation(`1 validation error detected: Value '${spec.slice(0, 64)}' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set`);
  const allowed = usagesOf(type);
  if (input.KeyUsage === undefined) {
    // KMS's default is ENCRYPT_DECRYPT; a spec that cannot encrypt and has more than one usage needs it said.
    if (allowed.length === 1) return { type, usage: allowed[0]! };
    if (allowed.includes('encrypt-decrypt')) return { type, usage: 'encrypt-decrypt' };
    throw validation(`KeyUsage is required for ${spec} keys (${allowed.map((u) => u.toUpperCase().replace(/-/g, '_')).join(' or ')})`);
  }
  const usage = KEYHOLD_USAGE[input.KeyUsage];
  if (usage === undefined) throw validation(`1 validation error detected: Value '${input.KeyUsage.slice(0, 64)}' at 'keyUsage' failed to satisfy constraint: Member must satisfy enum value set`);
  if (!allowed.includes(usage)) throw validation(`KeyUsage ${input.KeyUsage} is not compatible with KeySpec ${spec}`);
  return { type, usage };
}

/** Symmetric keys generated here are the only ones KMS rotates. */
async function rotatable(deps: KmsDeps, name: string): Promise<ManagedKey> {
  const key = await deps.keys.get(name);
  if (!isSymmetric(key.record.type)) throw unsupported('Key rotation is supported only for symmetric encryption keys');
  if (key.record.origin === 'imported') throw unsupported('Keys with imported key material are not rotated by Keyhold');
  return key;
}

export const CreateKey = operation({
  input: Input({
    Policy: Type.Optional(Type.String({ minLength: 1, maxLength: 32768 })),
    Description: Type.Optional(Type.String({ maxLength: 8192 })),
    KeyUsage: Type.Optional(Type.String({ maxLength: 64 })),
    CustomerMasterKeySpec: Type.Optional(Type.String({ maxLength: 64 })),
    KeySpec: Type.Optional(Type.String({ maxLength: 64 })),
    Origin: Type.Optional(Type.String({ maxLength: 64 })),
    CustomKeyStoreId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    BypassPolicyLockoutSafetyCheck: Type.Optional(Type.Boolean()),
    Tags: Type.Optional(Type.Array(Tag)),
    MultiRegion: Type.Optional(Type.Boolean()),
    XksKeyId: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  }),
  action: 'createKey',
  target: { system: 'keys' },
  async run(deps, input) {
    // Access is Cedar's (docs/policy.md); a key policy that would be ignored is refused instead.
    if (input.Policy !== undefined) throw unsupported('Key policies are not supported: Keyhold authorizes with Cedar policies (docs/policy.md)');
    if (input.CustomKeyStoreId !== undefined || input.XksKeyId !== undefined) throw unsupported('Custom key stores are not supported');
    if (input.MultiRegion === true) throw unsupported('Multi-Region keys are not supported');
    const origin = input.Origin ?? 'AWS_KMS';
    if (origin !== 'AWS_KMS' && origin !== 'EXTERNAL') throw unsupported(`Origin ${origin.slice(0, 64)} is not supported (AWS_KMS or EXTERNAL)`);
    const { type, usage } = typeAndUsage(input);
    const create = {
      name: randomUUID(),
      type,
      usage,
      description: input.Description ?? '',
      tags: checkTagCount(tagMap(input.Tags ?? [])),
    };
    const key = origin === 'EXTERNAL' ? await deps.keys.createAwaitingImport(create) : await deps.keys.create(create);
    return { KeyMetadata: keyMetadata(deps.ids, key) };
  },
});

export const DescribeKey = operation({
  input: Input({ KeyId, GrantTokens: Type.Optional(GrantTokens) }),
  action: 'readKey',
  target: keyTarget('KeyId'),
  async run(deps, _input, [name]) {
    return { KeyMetadata: keyMetadata(deps.ids, await deps.keys.get(name!)) };
  },
});

export const ListKeys = operation({
  input: Input({ Limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })), Marker: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })) }),
  action: 'listKeys',
  target: { system: 'keys' },
  async run(deps, input, _names, caller) {
    const after = input.Marker === undefined ? undefined : caller.resumeAfter('kms/ListKeys', input.Marker);
    if (after !== undefined && !KEY_NAME.test(after)) throw new KmsError('InvalidMarkerException', 'The marker is not valid', 'KH_BAD_REQUEST');
    const { keys: candidates } = await deps.keys.list({ limit: Number.MAX_SAFE_INTEGER, ...(after !== undefined && { after }) });
    // Only keys the caller may DescribeKey (readKey); NextMarker is the last key shown (or sealed), never
    // a key the caller cannot read. A page may hold fewer than Limit, as KMS allows.
    const page = await caller.page('kms/ListKeys', candidates.map((k) => k.name), input.Limit ?? 100, (n) => n, (n) => n);
    return {
      Keys: page.items.map((name) => ({ KeyId: name, KeyArn: deps.ids.keyArn(name) })),
      Truncated: page.next !== undefined,
      ...(page.next !== undefined && { NextMarker: page.next }),
    };
  },
});

const KeyOnly = Input({ KeyId });

export const EnableKey = operation({
  input: KeyOnly,
  action: 'enableKey',
  target: keyTarget('KeyId'),
  async run(deps, _input, [name]) {
    await deps.keys.setEnabled(name!, true);
    return {};
  },
});

export const DisableKey = operation({
  input: KeyOnly,
  action: 'disableKey',
  target: keyTarget('KeyId'),
  async run(deps, _input, [name]) {
    await deps.keys.setEnabled(name!, false);
    return {};
  },
});

export const EnableKeyRotation = operation({
  input: Input({ KeyId, RotationPeriodInDays: Type.Optional(Type.Integer({ minimum: 90, maximum: 2560 })) }),
  action: 'updateKey',
  target: keyTarget('KeyId'),
  async run(deps, input, [name]) {
    const key = await rotatable(deps, name!);
    if (key.record.state === 'disabled') throw new KmsError('DisabledException', `${deps.ids.keyArn(name!)} is disabled.`, 'KH_KEY_DISABLED');
    await deps.keys.update(name!, { autoRotatePeriodSeconds: (input.RotationPeriodInDays ?? 365) * DAY_SECONDS });
    return {};
  },
});

export const DisableKeyRotation = operation({
  input: KeyOnly,
  action: 'updateKey',
  target: keyTarget('KeyId'),
  async run(deps, _input, [name]) {
    const key = await rotatable(deps, name!);
    if (key.record.state === 'disabled') throw new KmsError('DisabledException', `${deps.ids.keyArn(name!)} is disabled.`, 'KH_KEY_DISABLED');
    await deps.keys.update(name!, { autoRotatePeriodSeconds: 0 });
    return {};
  },
});

export const GetKeyRotationStatus = operation({
  input: KeyOnly,
  action: 'readKey',
  target: keyTarget('KeyId'),
  async run(deps, _input, [name]) {
    const key = await deps.keys.get(name!);
    if (!isSymmetric(key.record.type)) throw unsupported('Key rotation is supported only for symmetric encryption keys');
    const period = key.record.autoRotatePeriodSeconds;
    return {
      KeyId: deps.ids.keyArn(name!),
      KeyRotationEnabled: period > 0,
      ...(period > 0 && {
        RotationPeriodInDays: Math.max(1, Math.round(period / DAY_SECONDS)),
        NextRotationDate: epochSeconds(key.record.lastRotatedAt) + period,
      }),
    };
  },
});

export const RotateKeyOnDemand = operation({
  input: KeyOnly,
  action: 'rotateKey',
  target: keyTarget('KeyId'),
  async run(deps, _input, [name]) {
    await rotatable(deps, name!);
    await deps.keys.rotate(name!);
    return { KeyId: deps.ids.keyArn(name!) };
  },
});

export const ScheduleKeyDeletion = operation({
  input: Input({ KeyId, PendingWindowInDays: Type.Optional(Type.Integer({ minimum: 7, maximum: 30 })) }),
  action: 'scheduleKeyDeletion',
  target: keyTarget('KeyId'),
  async run(deps, input, [name]) {
    const days = input.PendingWindowInDays ?? 30;
    const key = await deps.keys.scheduleDeletion(name!, days);
    return { KeyId: deps.ids.keyArn(name!), DeletionDate: epochSeconds(key.record.deletionDate!), KeyState: 'PendingDeletion', PendingWindowInDays: days };
  },
});

export const CancelKeyDeletion = operation({
  input: KeyOnly,
  action: 'cancelKeyDeletion',
  target: keyTarget('KeyId'),
  async run(deps, _input, [name]) {
    const key = await deps.keys.get(name!);
    if (key.record.state !== 'pending-deletion') throw invalidState(`${deps.ids.keyArn(name!)} is not pending deletion.`);
    await deps.keys.cancelDeletion(name!);
    return { KeyId: deps.ids.keyArn(name!) };
  },
});

export const TagResource = operation({
  input: Input({ KeyId, Tags: Type.Array(Tag) }),
  action: 'updateKey',
  target: keyTarget('KeyId'),
  async run(deps, input, [name]) {
    const key = await deps.keys.get(name!);
    const tags = checkTagCount({ ...key.record.tags, ...tagMap(input.Tags) });
    await deps.keys.update(name!, { tags });
    return {};
  },
});

export const UntagResource = operation({
  input: Input({ KeyId, TagKeys: Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: MAX_TAGS }) }),
  action: 'updateKey',
  target: keyTarget('KeyId'),
  async run(deps, input, [name]) {
    const key = await deps.keys.get(name!);
    const tags = Object.fromEntries(Object.entries(key.record.tags).filter(([k]) => !input.TagKeys.includes(k)));
    await deps.keys.update(name!, { tags });
    return {};
  },
});

export const ListResourceTags = operation({
  input: Input({ KeyId, Limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 50 })), Marker: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })) }),
  action: 'readKey',
  target: keyTarget('KeyId'),
  async run(deps, input, [name]) {
    const key = await deps.keys.get(name!);
    const all = Object.keys(key.record.tags).sort();
    const start = input.Marker === undefined ? 0 : all.findIndex((k) => k > input.Marker!);
    const limit = input.Limit ?? 50;
    const page = start < 0 ? [] : all.slice(start, start + limit);
    const truncated = start >= 0 && start + limit < all.length;
    return {
      Tags: page.map((k) => ({ TagKey: k, TagValue: key.record.tags[k]! })),
      Truncated: truncated,
      ...(truncated && { NextMarker: page[page.length - 1] }),
    };
  },
});
