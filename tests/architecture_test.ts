// Reads every TypeScript file under src/ and fails when a layer reaches outward:
// domain depends on nothing but itself, adapters never on app, domain modules only through mod.ts,
// `_` files stay private to their folder, and there are no index.ts barrels.
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, posix, relative, resolve, sep } from "node:path";
import ts from "typescript";

const repoRoot = resolve(import.meta.dir, "..");

/** Imports and forbidden global uses found in one file; `line` is 1-based. */
interface Scan {
  specifiers: { specifier: string; line: number }[];
  globals: { what: string; line: number }[];
}

/** A source file as the checks see it: a repository-relative posix path and its text. */
interface SourceFile {
  path: string;
  text: string;
}

/** Lists every .ts/.tsx file below `dir` (repository-relative, posix separators); empty when absent. */
function listSources(dir: string): SourceFile[] {
  const absolute = join(repoRoot, dir);
  if (!existsSync(absolute)) return [];
  const found: SourceFile[] = [];
  const walk = (current: string) => {
    for (const name of readdirSync(current).sort()) {
      const full = join(current, name);
      if (statSync(full).isDirectory()) walk(full);
      else if (/\.(ts|tsx|mts|cts)$/.test(name)) {
        found.push({ path: relative(repoRoot, full).split(sep).join("/"), text: readFileSync(full, "utf8") });
      }
    }
  };
  walk(absolute);
  return found;
}

/** Finds every module specifier (static, type-only, re-export, dynamic, import type, require) and forbidden global. */
function scan(file: SourceFile): Scan {
  const source = ts.createSourceFile(file.path, file.text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const result: Scan = { specifiers: [], globals: [] };
  const lineOf = (node: ts.Node) => source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
  const addSpecifier = (node: ts.Node | undefined) => {
    if (node && ts.isStringLiteralLike(node)) result.specifiers.push({ specifier: node.text, line: lineOf(node) });
  };
  const isGlobalObject = (node: ts.Node) =>
    ts.isIdentifier(node) && ["globalThis", "window", "self", "global"].includes(node.text);

  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) addSpecifier(node.moduleSpecifier);
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      addSpecifier(node.moduleReference.expression);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) addSpecifier(node.argument.literal);
    else if (ts.isCallExpression(node)) {
      const callee = node.expression;
      if (callee.kind === ts.SyntaxKind.ImportKeyword) addSpecifier(node.arguments[0]);
      else if (ts.isIdentifier(callee) && callee.text === "require") addSpecifier(node.arguments[0]);
      if (
        (ts.isIdentifier(callee) && callee.text === "fetch") ||
        (ts.isPropertyAccessExpression(callee) && callee.name.text === "fetch" && isGlobalObject(callee.expression))
      ) {
        result.globals.push({ what: "fetch(", line: lineOf(node) });
      }
    } else if (ts.isPropertyAccessExpression(node) || ts.isElementAccessExpression(node)) {
      const name = ts.isPropertyAccessExpression(node)
        ? node.name.text
        : ts.isStringLiteralLike(node.argumentExpression)
          ? node.argumentExpression.text
          : "";
      const target = node.expression;
      const isProcess =
        (ts.isIdentifier(target) && target.text === "process") ||
        (ts.isPropertyAccessExpression(target) && target.name.text === "process" && isGlobalObject(target.expression));
      if (isProcess && name === "env") result.globals.push({ what: "process.env", line: lineOf(node) });
    }
    // Any reference to the Bun global (value or type), but not a property or member that happens to be named Bun.
    if (ts.isIdentifier(node) && node.text === "Bun") {
      const parent = node.parent;
      const isMemberName =
        (ts.isPropertyAccessExpression(parent) && parent.name === node) ||
        (ts.isQualifiedName(parent) && parent.right === node) ||
        ((ts.isPropertyAssignment(parent) ||
          ts.isPropertySignature(parent) ||
          ts.isPropertyDeclaration(parent) ||
          ts.isMethodDeclaration(parent) ||
          ts.isMethodSignature(parent)) &&
          parent.name === node);
      if (!isMemberName) result.globals.push({ what: "Bun.", line: lineOf(node) });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return result;
}

/**
 * Resolves a relative specifier to a repository-relative posix path; `null` for packages and builtins.
 * Extensionless specifiers resolve to the `.ts` file when one exists, otherwise stay as written.
 */
function resolveSpecifier(from: string, specifier: string, exists: (path: string) => boolean): string | null {
  if (!specifier.startsWith(".")) return null;
  const target = posix.normalize(posix.join(posix.dirname(from), specifier));
  if (/\.(ts|tsx|mts|cts|js|mjs|cjs|json)$/.test(target)) return target;
  for (const candidate of [`${target}.ts`, `${target}.tsx`]) if (exists(candidate)) return candidate;
  return target;
}

/** True when `path` is `folder` itself or lies below it. */
function isInside(path: string, folder: string): boolean {
  return path === folder || path.startsWith(`${folder}/`);
}

/** Checks the layer rules over a set of source files; returns one readable line per violation. */
function checkArchitecture(files: SourceFile[]): string[] {
  const known = new Set(files.map((file) => file.path));
  const exists = (path: string) => known.has(path);
  const violations: string[] = [];

  for (const file of files) {
    const where = (line: number) => `${file.path}:${line}`;
    const fileName = posix.basename(file.path);
    if (/^index\.(ts|tsx|mts|cts)$/.test(fileName)) {
      violations.push(`${file.path}: index.ts barrels are not allowed; name the public face mod.ts`);
    }
    const { specifiers, globals } = scan(file);
    const inDomain = isInside(file.path, "src/domain");
    const inAdapters = isInside(file.path, "src/adapters");

    if (inDomain) {
      for (const use of globals) {
        violations.push(`${where(use.line)} uses "${use.what}" — the domain gets I/O, time and randomness through ports`);
      }
    }

    for (const { specifier, line } of specifiers) {
      const target = resolveSpecifier(file.path, specifier, exists);

      if (inDomain && (target === null || !isInside(target, "src/domain"))) {
        violations.push(
          `${where(line)} imports "${specifier}" — src/domain may only import relative paths inside src/domain`,
        );
        continue;
      }
      if (target === null) continue;

      if (inAdapters && isInside(target, "src/app")) {
        violations.push(`${where(line)} imports "${specifier}" — src/adapters must never import from src/app`);
      }

      // A domain module (src/domain/<module>/...) is reached from outside only through its mod.ts.
      const moduleFolder =
        /^(src\/domain\/[^/]+)\/./.exec(target)?.[1] ?? (/^src\/domain\/[^/.]+$/.test(target) ? target : null);
      if (moduleFolder && !isInside(file.path, moduleFolder) && target !== `${moduleFolder}/mod.ts`) {
        violations.push(
          `${where(line)} imports "${specifier}" — code outside ${moduleFolder} must import ${moduleFolder}/mod.ts`,
        );
      }

      // `_name.ts` is private to the folder it sits in (and that folder's subfolders). Templates named
      // `_partial.html` are the swapped regions the app renders: ARCHITECTURE.md wants them imported.
      if (posix.basename(target).startsWith("_") && target.endsWith(".ts") && !isInside(file.path, posix.dirname(target))) {
        violations.push(
          `${where(line)} imports "${specifier}" — ${target} is private to ${posix.dirname(target)}/`,
        );
      }
    }
  }
  return violations;
}

describe("architecture", () => {
  const sources = listSources("src");

  test("src follows the layer rules: domain inward-only, adapters never import app, modules through mod.ts, private _ files, no index.ts", () => {
    expect(checkArchitecture(sources)).toEqual([]);
  });

  test("the architecture check catches every kind of violation it promises to", () => {
    const fixture: SourceFile[] = [
      { path: "src/domain/licensing/mod.ts", text: `export * from "./_key.ts";\nexport { x } from "./use_cases/activate.ts";` },
      { path: "src/domain/licensing/_key.ts", text: `import type { Clock } from "../shared/mod.ts";\nexport const k = 1;` },
      { path: "src/domain/licensing/use_cases/activate.ts", text: `import { k } from "../_key.ts";\nexport const x = k;` },
      { path: "src/domain/shared/mod.ts", text: `export interface Clock { now(): Date }\nexport interface Fetcher { fetch(url: string): Promise<string>; Bun: number }` },
      {
        path: "src/domain/quota/mod.ts",
        text: [
          `import { t } from "elysia";`,
          `import type { EntityManager } from "@mikro-orm/core";`,
          `import { k } from "../licensing/_key.ts";`,
          `import { x } from "../licensing/use_cases/activate.ts";`,
          `import { y } from "../../adapters/db/orm.ts";`,
          `const port = process.env.PORT;`,
          `const now = Bun.nanoseconds();`,
          `type S = Bun.Server;`,
          `const r = await fetch("https://example.com");`,
          `const m = await import("node:fs");`,
          `export const fine = ports.fetch("id");`,
        ].join("\n"),
      },
      { path: "src/adapters/db/repo.ts", text: `import { config } from "../../app/config.ts";\nimport { Clock } from "../../domain/shared/mod.ts";\nimport { MikroORM } from "@mikro-orm/core";` },
      { path: "src/app/main.ts", text: `import { k } from "../domain/licensing/_key.ts";\nimport { run } from "../domain/licensing/mod.ts";\nimport { q } from "../domain/quota";` },
      { path: "src/app/http/index.ts", text: `export {};` },
    ];
    const found = checkArchitecture(fixture);
    const expected = [
      `src/domain/quota/mod.ts:1 imports "elysia"`,
      `src/domain/quota/mod.ts:2 imports "@mikro-orm/core"`,
      `src/domain/quota/mod.ts:3 imports "../licensing/_key.ts" — code outside src/domain/licensing must import`,
      `src/domain/quota/mod.ts:3 imports "../licensing/_key.ts" — src/domain/licensing/_key.ts is private`,
      `src/domain/quota/mod.ts:4 imports "../licensing/use_cases/activate.ts" — code outside`,
      `src/domain/quota/mod.ts:5 imports "../../adapters/db/orm.ts" — src/domain may only import`,
      `src/domain/quota/mod.ts:6 uses "process.env"`,
      `src/domain/quota/mod.ts:7 uses "Bun."`,
      `src/domain/quota/mod.ts:8 uses "Bun."`,
      `src/domain/quota/mod.ts:9 uses "fetch("`,
      `src/domain/quota/mod.ts:10 imports "node:fs"`,
      `src/adapters/db/repo.ts:1 imports "../../app/config.ts" — src/adapters must never import from src/app`,
      `src/app/main.ts:1 imports "../domain/licensing/_key.ts" — code outside`,
      `src/app/main.ts:1 imports "../domain/licensing/_key.ts" — src/domain/licensing/_key.ts is private`,
      `src/app/main.ts:3 imports "../domain/quota" — code outside src/domain/quota must import`,
      `src/app/http/index.ts: index.ts barrels`,
    ];
    const missing = expected.filter((prefix) => !found.some((line) => line.startsWith(prefix)));
    const unexpected = found.filter((line) => !expected.some((prefix) => line.startsWith(prefix)));
    expect({ missing, unexpected }).toEqual({ missing: [], unexpected: [] });
  });

  test("the architecture check passes on an empty tree", () => {
    expect(checkArchitecture([])).toEqual([]);
  });
});
