// Admin password hashing: argon2id, verified against the stored hash, and one hash or verification at a time
// (each holds 64 MiB resident while it runs).
import { describe, expect, test } from "bun:test";
import { hashPassword, oneAtATime, verifyPassword } from "../../src/adapters/crypto/passwords.ts";

describe("password hashing", () => {
  test("a hash is argon2id with 64 MiB, verifies its password and no other, and a malformed hash is a plain no", async () => {
    const hash = await hashPassword("correct horse battery staple");
    expect(hash).toStartWith("$argon2id$v=19$m=65536,t=2,p=1$");
    expect(await verifyPassword("correct horse battery staple", hash)).toBe(true);
    expect(await verifyPassword("correct horse battery stapler", hash)).toBe(false);
    expect(await verifyPassword("x", "not a hash")).toBe(false);
  });

  test("verifications asked for at once run one after another, and each answers its own question", async () => {
    const hash = await hashPassword("right");
    const guesses = ["wrong", "right", "also wrong", "right"];
    expect(await Promise.all(guesses.map((guess) => verifyPassword(guess, hash)))).toEqual([false, true, false, true]);
    // Work queued behind a verification starts only once it is over: argon2id over 64 MiB never takes under
    // 10 ms, and work that does not wait starts at once.
    const verification = verifyPassword("right", hash);
    const queuedAt = performance.now();
    const waited = await oneAtATime(async () => performance.now() - queuedAt);
    expect(await verification).toBe(true);
    expect(waited).toBeGreaterThan(10);
  });

  test("oneAtATime never overlaps two pieces of work, keeps their order, and a failure does not stop the next", async () => {
    let running = 0;
    let most = 0;
    const order: number[] = [];
    const work = (n: number, fail = false) =>
      oneAtATime(async () => {
        running += 1;
        most = Math.max(most, running);
        await Bun.sleep(5);
        order.push(n);
        running -= 1;
        if (fail) throw new Error(`work ${n} failed`);
        return n;
      });
    const results = await Promise.allSettled([work(1), work(2, true), work(3), work(4)]);
    expect(most).toBe(1);
    expect(order).toEqual([1, 2, 3, 4]);
    expect(results.map((r) => (r.status === "fulfilled" ? r.value : (r.reason as Error).message))).toEqual([1, "work 2 failed", 3, 4]);
  });
});
