// Secrets are compared in constant time. Stored credentials (license keys, session tokens, admin API
// tokens) are found by the SHA-256 digest of what the caller sent, which reveals nothing about a guess;
// what is compared in memory (signatures, CSRF tokens, key material, bearer secrets from configuration)
// goes through one constant-time helper. The source scan below fails when a secret is compared with
// `===` or a second home-made comparator appears.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve, sep } from "node:path";
import ts from "typescript";
import { constantTimeEqual } from "../src/domain/shared/mod.ts";

const repoRoot = resolve(import.meta.dir, "..");

/** A name that holds a secret or a value derived from one (the right side of a check). */
const SECRET_NAME = /(secret|signature|csrf|digest|hmac|mac|token|password|passphrase|apikey|api_key|licensekey|license_key|^h1|^v1|expected)s?$/i;

/** Names that end like a secret but hold something else (counts, shapes, settings). */
const NOT_SECRET = /(max|prompt|completion|total|input|output|cached|reasoning|estimated)_?tokens?$|^tokens?(used|limit)$|tokenizer/i;

function sources(dir: string): Array<{ path: string; text: string }> {
  const found: Array<{ path: string; text: string }> = [];
  const walk = (current: string) => {
    for (const name of readdirSync(current).sort()) {
      const full = join(current, name);
      if (statSync(full).isDirectory()) walk(full);
      else if (/\.ts$/.test(name) && !name.endsWith(".d.ts")) found.push({ path: relative(repoRoot, full).split(sep).join("/"), text: readFileSync(full, "utf8") });
    }
  };
  if (existsSync(join(repoRoot, dir))) walk(join(repoRoot, dir));
  return found;
}

/** The name an operand is known by: `x`, `a.b.x`, `x()`, `a.x()`, `this.x`, `(x ?? "")`. */
function nameOf(node: ts.Expression): string | null {
  let current: ts.Expression = node;
  for (;;) {
    if (ts.isParenthesizedExpression(current) || ts.isAsExpression(current) || ts.isNonNullExpression(current) || ts.isAwaitExpression(current)) current = current.expression;
    else if (ts.isBinaryExpression(current) && [ts.SyntaxKind.QuestionQuestionToken, ts.SyntaxKind.BarBarToken].includes(current.operatorToken.kind)) current = current.left;
    else break;
  }
  if (ts.isCallExpression(current)) current = current.expression;
  if (ts.isIdentifier(current)) return current.text;
  if (ts.isPropertyAccessExpression(current)) return current.name.text;
  if (ts.isElementAccessExpression(current) && ts.isStringLiteralLike(current.argumentExpression)) return current.argumentExpression.text;
  return null;
}

/** Literals, `typeof`, lengths and counts: comparing a secret with these leaks nothing. */
function isHarmless(node: ts.Expression): boolean {
  let current: ts.Expression = node;
  while (ts.isParenthesizedExpression(current)) current = current.expression;
  if (ts.isLiteralExpression(current) || ts.isNoSubstitutionTemplateLiteral(current)) return true;
  if ([ts.SyntaxKind.NullKeyword, ts.SyntaxKind.TrueKeyword, ts.SyntaxKind.FalseKeyword, ts.SyntaxKind.UndefinedKeyword].includes(current.kind)) return true;
  if (ts.isIdentifier(current) && current.text === "undefined") return true;
  if (ts.isTypeOfExpression(current) || ts.isPrefixUnaryExpression(current)) return true;
  if (ts.isPropertyAccessExpression(current) && ["length", "size", "kind", "type", "scope", "status", "id"].includes(current.name.text)) return true;
  return false;
}

/** Comparisons of a secret that no caller's guess reaches, each with the reason. */
const NOT_A_CHECK: Record<string, string> = {
  'line === (data.licenseKey ?? "")': "mail rendering: finds the key's own line to format it; nothing is verified",
};

const EQUALITY = new Set([ts.SyntaxKind.EqualsEqualsEqualsToken, ts.SyntaxKind.ExclamationEqualsEqualsToken, ts.SyntaxKind.EqualsEqualsToken, ts.SyntaxKind.ExclamationEqualsToken]);

/** Every `a === b` (and `!==`, `==`, `!=`) in a file where a side names a secret and the other is not a literal. */
function secretEqualitiesIn(path: string, text: string): string[] {
  const found: string[] = [];
  const source = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const visit = (node: ts.Node) => {
    if (ts.isBinaryExpression(node) && EQUALITY.has(node.operatorToken.kind) && !isHarmless(node.left) && !isHarmless(node.right)) {
      const names = [nameOf(node.left), nameOf(node.right)].filter((n): n is string => n != null);
      if (names.some((n) => SECRET_NAME.test(n) && !NOT_SECRET.test(n)) && !NOT_A_CHECK[node.getText(source)]) {
        const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
        found.push(`${path}:${line}: ${node.getText(source)}`);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

describe("the constant-time comparison helper", () => {
  test("constantTimeEqual agrees with === for any two strings, including different lengths and non-ASCII", () => {
    for (const [a, b] of [["", ""], ["a", ""], ["", "a"], ["abc", "abc"], ["abc", "abd"], ["abc", "abcd"], ["abcd", "abc"], ["é", "e"], ["\u0000", ""], ["😀", "😀"], ["😀", "😁"]]) {
      expect({ a, b, equal: constantTimeEqual(a, b) }).toEqual({ a, b, equal: a === b });
    }
    fc.assert(fc.property(fc.string({ unit: "binary" }), fc.string({ unit: "binary" }), (a, b) => constantTimeEqual(a, b) === (a === b)));
    fc.assert(fc.property(fc.string({ unit: "binary", minLength: 1 }), fc.nat(), (a, i) => {
      const at = i % a.length;
      const changed = a.slice(0, at) + String.fromCharCode(a.charCodeAt(at) ^ 1) + a.slice(at + 1);
      return constantTimeEqual(a, a) && !constantTimeEqual(a, changed) && !constantTimeEqual(a, a.slice(0, at));
    }));
  });

  test("it looks at every character whatever the first difference (no early exit on a mismatch)", () => {
    // Counts the characters read: the same for a mismatch at the first and at the last position.
    const reads = (a: string, b: string) => {
      let count = 0;
      const spy = (text: string) => new Proxy(new String(text), {
        get(target, key) {
          if (key === "charCodeAt") return (i: number) => (count++, target.charCodeAt(i));
          const value = Reflect.get(target, key);
          return typeof value === "function" ? value.bind(target) : value;
        },
      }) as unknown as string;
      constantTimeEqual(spy(a), spy(b));
      return count;
    };
    const secret = "f".repeat(64);
    const first = reads(secret, `0${"f".repeat(63)}`);
    const last = reads(secret, `${"f".repeat(63)}0`);
    const same = reads(secret, secret);
    expect({ first, last }).toEqual({ first: same, last: same });
    expect(same).toBeGreaterThanOrEqual(64);
  });
});

describe("secrets in the source are compared in constant time", () => {
  test("no secret (signature, CSRF token, digest, API key, password, bearer token) is compared with === or !== anywhere in src/", () => {
    const all = sources("src");
    expect(all.length).toBeGreaterThan(50);
    expect(all.flatMap((file) => secretEqualitiesIn(file.path, file.text))).toEqual([]);
    // Each exception still names real code.
    for (const text of Object.keys(NOT_A_CHECK)) expect({ text, present: all.some((file) => file.text.includes(text)) }).toEqual({ text, present: true });
  });

  test("the scan would notice such a comparison (it is not blind)", () => {
    const probe = "if (sent === csrf) ok(); if (request.headers.get('x') !== config.metricsToken) no(); if (a.signature == expected) x(); if ((given ?? '') === (apiKey ?? '')) y();";
    const hits = secretEqualitiesIn("probe.ts", probe);
    expect(hits).toHaveLength(4);
  });

  test("there is one constant-time comparator in the domain, and the edge uses it or a library's (node:crypto, @oslojs)", () => {
    const homeMade: string[] = [];
    for (const file of sources("src")) {
      for (const match of file.text.matchAll(/function\s+(\w*(?:constant|timing)\w*)\s*\(/gi)) {
        if (!(file.path === "src/domain/shared/mod.ts" && match[1] === "constantTimeEqual")) homeMade.push(`${file.path}: ${match[1]}`);
      }
    }
    expect(homeMade).toEqual([]);
    // The checks that compare secrets in memory call a constant-time comparator.
    const checks: Array<[string, RegExp]> = [
      ["src/domain/payments/mod.ts", /export async function verifyPaddleSignature[\s\S]*?constantTimeEqual\(/],
      ["src/domain/payments/mod.ts", /export async function verifyGenericSignature[\s\S]*?constantTimeEqual\(/],
      ["src/domain/webhooks/mod.ts", /export async function verifySignature[\s\S]*?constantTimeEqual\(/],
      ["src/app/http/admin/admin_guard.ts", /constantTimeEqual\(sent, csrf\)/],
      ["src/adapters/crypto/webcrypto_keyring.ts", /constantTimeEqual\(known, raw\)/],
      ["src/app/http/metrics_route.ts", /constantTimeEqual\(match\[1\], deps\.metricsToken\)/],
    ];
    for (const [path, pattern] of checks) expect({ path, uses: pattern.test(readFileSync(join(repoRoot, path), "utf8")) }).toEqual({ path, uses: true });
  });
});
