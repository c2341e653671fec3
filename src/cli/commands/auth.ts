/**
 * `keyhold auth ...`: hash a password for the configuration; log in (password
 * with an optional second factor and key binding, client certificate);
 * TOTP enrolment; who am I; revoke sessions. Users, machines and AWS-style
 * access keys are in auth-users.ts, auth-machines.ts and auth-access-keys.ts.
 */
import type { Command } from 'commander';
import { call, CliError, loadPrivateKey } from '../http-client.js';
import { print } from '../output.js';
import { readSecretLine } from '../read-secret.js';
import { clientOptions, type GlobalFlags } from './operator.js';
import { registerAuthUsers } from './auth-users.js';
import { registerAuthMachines } from './auth-machines.js';
import { registerAuthAccessKeys } from './auth-access-keys.js';
import { printLogin, publicJwk, signingKeyHint, type LoginAnswer } from './auth-keys.js';
import type { CliIo } from '../cli-io.js';

/** POST /v1/auth/introspect (RFC 7662 shape). */
interface Introspection {
  active: boolean;
  sub?: string;
  sid?: string;
  amr?: string[];
  exp?: number;
  iat?: number;
  jti?: string;
}

/** Access tokens are JWTs; anything else the server accepts is a root token (src/api/hooks.ts). */
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

export function registerAuth(program: Command, globals: () => GlobalFlags, io: CliIo): void {
  const auth = program.command('auth').description('passwords, logins, sessions, users, machines and access keys');

  auth
    .command('hash-password')
    .description('read a password from stdin (not echoed) and print its scrypt hash for auth.admin.passwordHash')
    .action(async () => {
      const password = await readSecretLine(io, 'Password (hidden): ');
      if (password === '') throw new CliError('KH_CLI_USAGE', 'the password is empty', 2);
      const { hashPassword } = await import('../../auth/password.js');
      io.stdout.write(`${await hashPassword(password)}\n`);
    });

  auth
    .command('login')
    .description('log in with a password (read from stdin, not echoed); prints the access token')
    .requiredOption('-u, --username <name>', 'username')
    .option('--otp <code>', 'TOTP code, once a second factor is enrolled')
    .option('--recovery-code <code>', 'one-time recovery code instead of --otp')
    .option('--bind-key <file>', 'PEM private key (Ed25519 or P-256) to bind the session to; requests then need --signing-key FILE')
    .action(async (o: { username: string; otp?: string; recoveryCode?: string; bindKey?: string }) => {
      const g = globals();
      // Only the public half is sent; load (and check) the key before asking for the password.
      const bindKey = o.bindKey === undefined ? undefined : publicJwk(loadPrivateKey(o.bindKey, '--bind-key', g.session));
      const password = await readSecretLine(io, 'Password (hidden): ');
      const body = {
        username: o.username,
        password,
        ...(o.otp !== undefined ? { otp: o.otp } : {}),
        ...(o.recoveryCode !== undefined ? { recoveryCode: o.recoveryCode } : {}),
        ...(bindKey !== undefined ? { bindKey } : {}),
      };
      const answer = (await call({ ...clientOptions(g), token: undefined }, 'POST', '/v1/auth/login', body)) as LoginAnswer;
      printLogin(io, g.format, answer, o.bindKey === undefined ? undefined : signingKeyHint(answer, o.bindKey));
    });

  auth
    .command('cert-login')
    .description('log in with the mTLS client certificate (--client-cert/--client-key); prints an access token bound to it')
    .action(async () => {
      const g = globals();
      if (g.clientCert === undefined || g.clientKey === undefined) {
        throw new CliError('KH_CLI_USAGE', 'cert-login needs --client-cert and --client-key (or KEYHOLD_CLIENT_CERT and KEYHOLD_CLIENT_KEY)', 2);
      }
      const answer = (await call({ ...clientOptions(g), token: undefined }, 'POST', '/v1/auth/cert/login')) as LoginAnswer;
      printLogin(io, g.format, answer, 'The token is bound to this client certificate: send requests with the same --client-cert and --client-key.');
    });

  const totp = auth.command('totp').description("a second factor (TOTP) for the logged-in user's account");

  totp
    .command('enroll')
    .description('start enrolment with the code an administrator issued (keyhold auth totp issue USER): prints the secret, an otpauth:// URI for an authenticator app and one-time recovery codes (shown once)')
    .argument('<enrollment-code>', 'the single-use enrolment code from an administrator')
    .action(async (enrollmentCode: string) => {
      const g = globals();
      const result = (await call(clientOptions(g), 'POST', '/v1/auth/totp/enroll', { enrollmentCode })) as { secret: string; uri: string; recoveryCodes: string[] };
      if (g.format === 'json') return print(io.stdout, 'json', result);
      io.stdout.write(`Secret: ${result.secret}\nURI:    ${result.uri}\n\nRecovery codes (each works once; store them now, they are not shown again):\n`);
      for (const code of result.recoveryCodes) io.stdout.write(`  ${code}\n`);
      io.stdout.write('\nFinish with: keyhold auth totp confirm CODE\n');
    });

  totp
    .command('issue')
    .description("issue a single-use enrolment code (24 h) for a user's first TOTP enrolment; needs a second factor or the root token under the default policy")
    .argument('<user>', 'the user who will enrol')
    .action(async (user: string) => {
      const g = globals();
      print(io.stdout, g.format, await call(clientOptions(g), 'POST', `/v1/auth/users/${encodeURIComponent(user)}/totp-enrollment`));
    });

  totp
    .command('confirm')
    .description('confirm enrolment with a first code; from then on logins need a code (`auth login --otp`)')
    .argument('<code>', 'the current code from the authenticator app')
    .action(async (code: string) => {
      const g = globals();
      print(io.stdout, g.format, await call(clientOptions(g), 'POST', '/v1/auth/totp/confirm', { code }));
    });

  auth
    .command('whoami')
    .description('introspect the current token: subject, session, authentication methods, expiry')
    .action(async () => {
      const g = globals();
      if (g.token === undefined) throw new CliError('KH_CLI_USAGE', 'no token: give --token or set KEYHOLD_TOKEN', 2);
      let result = (await call(clientOptions(g), 'POST', '/v1/auth/introspect', { token: g.token })) as Introspection & { kind?: string };
      // The call itself authenticated the token; introspection describes access tokens only.
      if (!result.active && !JWT_SHAPE.test(g.token)) result = { active: true, kind: 'root token' };
      if (g.format === 'json') print(io.stdout, 'json', result);
      else {
        const time = (s: number | undefined) => (s === undefined ? undefined : new Date(s * 1000).toISOString());
        print(io.stdout, 'human', { ...result, exp: time(result.exp), iat: time(result.iat) });
      }
      if (!result.active) io.setExitCode(1);
    });

  auth
    .command('revoke')
    .description('revoke sessions: --session ID, --subject user:NAME|machine:NAME or --all')
    .option('--session <id>', 'one session')
    .option('--subject <subject>', 'every session of a subject (the token `sub`: user:NAME or machine:NAME)')
    .option('--all', 'every session')
    .action(async (o: { session?: string; subject?: string; all?: boolean }) => {
      const chosen = [o.session !== undefined, o.subject !== undefined, o.all === true].filter(Boolean).length;
      if (chosen !== 1) throw new CliError('KH_CLI_USAGE', 'give exactly one of --session, --subject or --all', 2);
      // A bare name would match no session and silently revoke nothing.
      if (o.subject !== undefined && !/^[a-z]+:./.test(o.subject)) throw new CliError('KH_CLI_USAGE', '--subject takes the token subject: user:NAME or machine:NAME', 2);
      const body = o.session !== undefined ? { sessionId: o.session } : o.subject !== undefined ? { subject: o.subject } : { all: true };
      const g = globals();
      print(io.stdout, g.format, await call(clientOptions(g), 'POST', '/v1/auth/revoke', body));
    });

  registerAuthUsers(auth, globals, io);
  registerAuthMachines(auth, globals, io);
  registerAuthAccessKeys(auth, globals, io);
}
