/**
 * KMS aliases over the keys layer's KeyAliases: CreateAlias, UpdateAlias,
 * DeleteAlias, ListAliases. Changing an alias is authorised as updateKey on
 * every key it points at, before and after (as KMS asks for kms:CreateAlias /
 * kms:UpdateAlias on both the alias and the keys).
 */
import { Type } from '@sinclair/typebox';
import { KeyholdError } from '../../../errors.js';
import { checkAliasName } from '../../../keys/key-aliases.js';
import { KmsError, invalidState, validation } from './kms-errors.js';
import { Input, KeyId, epochSeconds } from './kms-inputs.js';
import { operation, type KmsDeps } from './kms-operation.js';
import type { Resolved } from './key-ids.js';
import { keySpecOf, usageOf } from './key-specs.js';

const AliasName = Type.String({ minLength: 1, maxLength: 256 });
const KEY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

function aliasName(name: string): string {
  try {
    return checkAliasName(name);
  } catch (e) {
    if (e instanceof KeyholdError) throw new KmsError('InvalidAliasNameException', e.message, e.code);
    throw e;
  }
}

/** The key an alias points at now, or the alias itself when it does not exist (for authorization, then NotFound). */
async function current(deps: KmsDeps, alias: string): Promise<Resolved> {
  const record = await deps.aliases.get(aliasName(alias));
  return record === undefined ? { missing: alias } : { name: record.target };
}

/** A live target: it exists and is not on its way out. */
async function liveTarget(deps: KmsDeps, name: string) {
  const key = await deps.keys.get(name);
  if (key.record.state === 'pending-deletion') throw invalidState(`${deps.ids.keyArn(name)} is pending deletion.`);
  return key;
}

export const CreateAlias = operation({
  input: Input({ AliasName, TargetKeyId: KeyId }),
  action: 'updateKey',
  target: {
    async keys(input, deps) {
      aliasName(input.AliasName);
      return [{ name: deps.ids.parseKeyOnly(input.TargetKeyId, 'TargetKeyId') }];
    },
  },
  async run(deps, input, [name]) {
    await liveTarget(deps, name!);
    await deps.aliases.create(input.AliasName, name!);
    return {};
  },
});

export const UpdateAlias = operation({
  input: Input({ AliasName, TargetKeyId: KeyId }),
  action: 'updateKey',
  target: {
    async keys(input, deps) {
      return [{ name: deps.ids.parseKeyOnly(input.TargetKeyId, 'TargetKeyId') }, await current(deps, input.AliasName)];
    },
  },
  async run(deps, input, [name, previous]) {
    const target = await liveTarget(deps, name!);
    // As KMS: an alias moves only between keys of the same kind, so its users keep working.
    const old = await deps.keys.get(previous!).catch(() => undefined);
    if (old !== undefined && (keySpecOf(old.record.type) !== keySpecOf(target.record.type) || usageOf(old.record) !== usageOf(target.record)))
      throw validation('The new target key must have the same key spec and key usage as the current one');
    await deps.aliases.update(input.AliasName, name!);
    return {};
  },
});

export const DeleteAlias = operation({
  input: Input({ AliasName }),
  action: 'updateKey',
  target: {
    async keys(input, deps) {
      return [await current(deps, input.AliasName)];
    },
  },
  async run(deps, input) {
    await deps.aliases.delete(input.AliasName);
    return {};
  },
});

export const ListAliases = operation({
  input: Input({
    KeyId: Type.Optional(KeyId),
    Limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    Marker: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
  }),
  action: 'listKeys',
  target: { system: 'keys' },
  async run(deps, input, _names, caller) {
    const only = input.KeyId === undefined ? undefined : deps.ids.parseKeyOnly(input.KeyId, 'KeyId');
    const exists = async (target: string) => KEY_NAME.test(target) && (await deps.keys.store.get(target)) !== undefined;
    const matching = (await deps.aliases.list(exists)).filter((a) => only === undefined || a.target === only);
    // An alias names its key: listed only when the caller may read that key (readKey), and
    // NextMarker is the last alias shown (or sealed), never one whose key the caller cannot read.
    const after = input.Marker === undefined ? undefined : caller.resumeAfter('kms/ListAliases', input.Marker);
    const candidates = matching.filter((a) => after === undefined || a.alias > after).sort((a, b) => (a.alias < b.alias ? -1 : a.alias > b.alias ? 1 : 0));
    const page = await caller.page('kms/ListAliases', candidates, input.Limit ?? 50, (a) => a.alias, (a) => a.target);
    const truncated = page.next !== undefined;
    return {
      Aliases: page.items.map((a) => ({
        AliasName: a.alias,
        AliasArn: deps.ids.aliasArn(a.alias),
        TargetKeyId: a.target,
        CreationDate: epochSeconds(a.createdAt),
        LastUpdatedDate: epochSeconds(a.updatedAt),
      })),
      Truncated: truncated,
      ...(page.next !== undefined && { NextMarker: page.next }),
    };
  },
});
