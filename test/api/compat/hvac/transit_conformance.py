"""Vault transit conformance with hvac, a real Vault client Keyhold does not ship.

Run by test/api/compat/transit-hvac.test.ts against a listening Keyhold:
VAULT_ADDR and VAULT_TOKEN name it; the arguments name the sections to run
(keys, crypto, sign, tools; default all, in that order). Each step prints
"ok <step>"; the first mismatch raises, so the exit status is the verdict. The calls are hvac's own
(hvac.Client().secrets.transit), exactly as an application would make them;
list_keys sends the HTTP LIST method.
"""
import base64
import hashlib
import os
import sys

import hvac
from hvac import exceptions


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def ok(step: str) -> None:
    print(f"ok {step}", flush=True)


def expect_refusal(call, kinds, step):
    try:
        call()
    except kinds as e:  # hvac raises per status: 400 InvalidRequest, 404 InvalidPath...
        # Vault's 404 for a missing key carries an empty list; every other refusal says why.
        assert e.errors or isinstance(e, exceptions.InvalidPath), f"{step}: Vault's error shape carries messages"
        ok(f"{step} refused: {type(e).__name__} {e.errors}")
        return
    raise AssertionError(f"{step}: expected a refusal")


def section_keys(client) -> None:
    t = client.secrets.transit
    # keys: create, read, list (LIST method), rotate, config, delete
    t.create_key(name="aes")
    t.create_key(name="signer", key_type="ed25519")
    t.create_key(name="p256", key_type="ecdsa-p256")
    # hvac 0.11 predates Vault's hmac key type: its generic write creates one.
    client.write("transit/keys/mac", type="hmac")
    t.create_key(name="gone")
    key = t.read_key(name="aes")["data"]
    assert key["type"] == "aes256-gcm96" and key["latest_version"] == 1, key
    ok("create_key/read_key")
    listed = t.list_keys()["data"]["keys"]
    assert sorted(listed) == ["aes", "gone", "mac", "p256", "signer"], listed
    ok("list_keys (LIST)")
    t.rotate_key(name="aes")
    assert t.read_key(name="aes")["data"]["latest_version"] == 2
    ok("rotate_key")
    t.update_key_configuration(name="aes", min_encryption_version=2)
    assert t.read_key(name="aes")["data"]["min_encryption_version"] == 2
    ok("update_key_configuration")
    expect_refusal(lambda: t.delete_key(name="gone"), exceptions.InvalidRequest, "delete_key before deletion_allowed")
    t.update_key_configuration(name="gone", deletion_allowed=True)
    t.delete_key(name="gone")
    expect_refusal(lambda: t.read_key(name="gone"), exceptions.InvalidPath, "read_key after delete")
    ok("delete_key")


def section_crypto(client) -> None:
    t = client.secrets.transit
    t.create_key(name="aes")
    # encrypt/decrypt/rewrap, single and batch
    secret = b"attack at dawn"
    latest = t.read_key(name="aes")["data"]["latest_version"]
    c = t.encrypt_data(name="aes", plaintext=b64(secret))["data"]["ciphertext"]
    assert c.startswith(f"vault:v{latest}:"), c
    assert base64.b64decode(t.decrypt_data(name="aes", ciphertext=c)["data"]["plaintext"]) == secret
    items = [{"plaintext": b64(f"item {i}".encode()), "reference": str(i)} for i in range(20)]
    batch = t.encrypt_data(name="aes", plaintext="", batch_input=items)["data"]["batch_results"]
    assert len(batch) == 20 and all(r["ciphertext"].startswith(f"vault:v{latest}:") for r in batch), batch
    assert [r.get("reference") for r in batch] == [str(i) for i in range(20)]
    plain = t.decrypt_data(name="aes", ciphertext="", batch_input=[{"ciphertext": r["ciphertext"]} for r in batch])["data"]["batch_results"]
    assert [base64.b64decode(r["plaintext"]) for r in plain] == [f"item {i}".encode() for i in range(20)]
    ok("encrypt_data/decrypt_data (single and batch of 20)")
    t.rotate_key(name="aes")
    rewrapped = t.rewrap_data(name="aes", ciphertext=c)["data"]["ciphertext"]
    assert rewrapped.startswith(f"vault:v{latest + 1}:"), rewrapped
    rebatch = t.rewrap_data(name="aes", ciphertext="", batch_input=[{"ciphertext": r["ciphertext"]} for r in batch])["data"]["batch_results"]
    assert all(r["ciphertext"].startswith(f"vault:v{latest + 1}:") for r in rebatch)
    assert base64.b64decode(t.decrypt_data(name="aes", ciphertext=rewrapped)["data"]["plaintext"]) == secret
    ok("rewrap_data (single and batch)")
    expect_refusal(lambda: t.decrypt_data(name="aes", ciphertext=f"vault:v{latest + 1}:" + b64(b"x" * 40)), exceptions.InvalidRequest, "decrypt of a forged ciphertext")

    # data keys
    dk = t.generate_data_key(name="aes", key_type="plaintext", bits=256)["data"]
    assert len(base64.b64decode(dk["plaintext"])) == 32
    assert base64.b64decode(t.decrypt_data(name="aes", ciphertext=dk["ciphertext"])["data"]["plaintext"]) == base64.b64decode(dk["plaintext"])
    wrapped = t.generate_data_key(name="aes", key_type="wrapped")["data"]
    assert "plaintext" not in wrapped or wrapped["plaintext"] in (None, ""), wrapped
    ok("generate_data_key (plaintext and wrapped)")


def section_sign(client) -> None:
    t = client.secrets.transit
    t.create_key(name="aes")
    t.create_key(name="signer", key_type="ed25519")
    t.create_key(name="p256", key_type="ecdsa-p256")
    client.write("transit/keys/mac", type="hmac")
    # signatures and HMACs; hvac sends `name` in the verify body, which Vault ignores
    message = b64(b"signed message")
    for name in ("signer", "p256"):
        sig = t.sign_data(name=name, hash_input=message)["data"]["signature"]
        assert t.verify_signed_data(name=name, hash_input=message, signature=sig)["data"]["valid"] is True
        assert t.verify_signed_data(name=name, hash_input=b64(b"other"), signature=sig)["data"]["valid"] is False
    sig = t.sign_data(name="p256", hash_input=message, hash_algorithm="sha2-384", marshaling_algorithm="jws")["data"]["signature"]
    assert t.verify_signed_data(name="p256", hash_input=message, signature=sig, hash_algorithm="sha2-384", marshaling_algorithm="jws")["data"]["valid"] is True
    ok("sign_data/verify_signed_data (ed25519, ecdsa-p256, sha2-384 + jws)")
    mac = t.generate_hmac(name="mac", hash_input=message)["data"]["hmac"]
    assert mac.startswith("vault:v1:"), mac
    assert t.verify_signed_data(name="mac", hash_input=message, hmac=mac)["data"]["valid"] is True
    assert t.verify_signed_data(name="mac", hash_input=b64(b"other"), hmac=mac)["data"]["valid"] is False
    ok("generate_hmac/verify_signed_data with hmac")
    # Keyhold MACs only with hmac keys (docs/compat.md); Vault also MACs with encryption keys.
    expect_refusal(lambda: t.generate_hmac(name="aes", hash_input=message), exceptions.InvalidRequest, "generate_hmac with an aes key")


def section_tools(client) -> None:
    t = client.secrets.transit
    t.create_key(name="aes")
    message = b64(b"signed message")
    # hash and random
    digest = t.hash_data(hash_input=message, algorithm="sha2-256", output_format="hex")["data"]["sum"]
    assert digest == hashlib.sha256(b"signed message").hexdigest(), digest
    # Vault's default output format is hex.
    assert t.hash_data(hash_input=message, algorithm="sha2-512")["data"]["sum"] == hashlib.sha512(b"signed message").hexdigest()
    assert t.hash_data(hash_input=message, output_format="base64")["data"]["sum"] == b64(hashlib.sha256(b"signed message").digest())
    ok("hash_data")
    rnd = t.generate_random_bytes(n_bytes=24)["data"]["random_bytes"]
    assert len(base64.b64decode(rnd)) == 24
    assert len(bytes.fromhex(t.generate_random_bytes(n_bytes=8, output_format="hex")["data"]["random_bytes"])) == 8
    ok("generate_random_bytes")

    # backup/restore: a Vault backup is the key material in plaintext, which Keyhold never
    # releases (docs/compat.md): both are refused in Vault's error shape, never a 5xx.
    expect_refusal(lambda: t.backup_key(name="aes"), (exceptions.InvalidRequest, exceptions.InvalidPath), "backup_key")
    expect_refusal(lambda: t.restore_key(backup=b64(b"{}"), name="restored"), (exceptions.InvalidRequest, exceptions.InvalidPath), "restore_key")

    # errors in Vault's shape for an unknown key and a bad token
    expect_refusal(lambda: t.encrypt_data(name="missing", plaintext=b64(b"x")), (exceptions.InvalidRequest, exceptions.InvalidPath), "encrypt with a missing key")
    bad = hvac.Client(url=os.environ["VAULT_ADDR"], token="not-a-token").secrets.transit
    expect_refusal(lambda: bad.list_keys(), exceptions.Forbidden, "list_keys with a bad token")


SECTIONS = {"keys": section_keys, "crypto": section_crypto, "sign": section_sign, "tools": section_tools}


def main(names) -> int:
    client = hvac.Client(url=os.environ["VAULT_ADDR"], token=os.environ["VAULT_TOKEN"])
    for name in names or SECTIONS:
        SECTIONS[name](client)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
