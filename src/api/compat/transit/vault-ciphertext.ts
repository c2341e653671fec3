/**
 * Vault's self-describing outputs, `vault:v<N>:<base64>`, are Keyhold's
 * `keyhold:v<N>:<base64>` with another prefix: the payload is the same bytes
 * (for AES-GCM and ChaCha20-Poly1305 both are nonce || ciphertext || tag).
 */
import { badRequest } from './vault-shape.js';

const VAULT = 'vault:';
const KEYHOLD = 'keyhold:';

export function toVault(text: string): string {
  return text.startsWith(KEYHOLD) ? VAULT + text.slice(KEYHOLD.length) : text;
}

/** @throws TransitError 400 "invalid ciphertext: no prefix" (Vault's words) when the text is not vault:... */
export function fromVault(text: string, what = 'ciphertext'): string {
  if (!text.startsWith(`${VAULT}v`)) throw badRequest(`invalid ${what}: no prefix`, what === 'ciphertext' ? 'KH_CIPHERTEXT_MALFORMED' : 'KH_SIGNATURE_MALFORMED');
  return KEYHOLD + text.slice(VAULT.length);
}
