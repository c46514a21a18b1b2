// Password hashing for admin accounts: argon2id through Bun's built-in implementation.
//
// Each hash or verification takes 64 MiB and about 140 ms of one core (on Bun's thread pool), and the memory
// is resident while it runs: measured, one verification took a process from 29 to 90 MB, four at once to 157 MB.
// So they run one at a time, in the order asked: sign-ins at once, or a burst of wrong passwords from many
// addresses, cost 64 MiB and one core at most, and the other core keeps serving.

let queue: Promise<unknown> = Promise.resolve();

/** Runs `work` after every earlier call's work has settled, one at a time. */
export function oneAtATime<T>(work: () => Promise<T>): Promise<T> {
  const run = queue.then(work, work);
  queue = run.catch(() => {});
  return run;
}

/** Hashes a password with argon2id (Bun's defaults: 64 MiB memory, time cost 2). */
export function hashPassword(password: string): Promise<string> {
  return oneAtATime(() => Bun.password.hash(password, { algorithm: "argon2id" }));
}

/** Checks a password against a stored hash in constant time. */
export function verifyPassword(password: string, hash: string): Promise<boolean> {
  return oneAtATime(() => Bun.password.verify(password, hash)).catch(() => false);
}

/** A readable random password (about 120 bits) for the first admin account. */
export function generatePassword(): string {
  // 32 symbols: each byte maps without modulo bias (256 is a multiple of 32), 5 bits per character.
  const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  const chars = [...bytes].map((b) => alphabet[b % alphabet.length]);
  return [0, 6, 12, 18].map((i) => chars.slice(i, i + 6).join("")).join("-");
}

/** The PasswordHasher port over Bun's argon2id. */
export const argon2Hasher = { hash: hashPassword, verify: verifyPassword };
