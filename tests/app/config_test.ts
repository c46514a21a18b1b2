import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CONFIG_VARIABLES, ConfigError, loadConfig } from "../../src/app/config.ts";

const KEY = Buffer.from(Uint8Array.from({ length: 32 }, (_, i) => i + 1)).toString("base64");
const OLD_KEY = Buffer.from(Uint8Array.from({ length: 32 }, (_, i) => 100 + i)).toString("base64");

let cwd: string;

beforeEach(() => {
  cwd = mkdtempSync(join(tmpdir(), "chatello-config-"));
});

afterEach(() => {
  rmSync(cwd, { recursive: true, force: true });
});

/** Loads with an explicit key unless the test is about the key, so no key file is written by accident. */
function load(env: Record<string, string | undefined>) {
  return loadConfig({ ENCRYPTION_KEY: KEY, ...env }, { cwd });
}

async function configError(promise: Promise<unknown>): Promise<ConfigError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    const configError = error as ConfigError;
    expect(configError.message.startsWith("Invalid configuration: ")).toBe(true);
    expect(configError.message).not.toContain("\n");
    return configError;
  }
  throw new Error("expected a ConfigError");
}

describe("loadConfig defaults", () => {
  test("loadConfig fills every setting with its default when the environment is empty", async () => {
    const config = await loadConfig({}, { cwd });
    expect(config.port).toBe(3000);
    expect(config.host).toBe("0.0.0.0");
    expect(config.nodeEnv).toBe("development");
    expect(config.publicUrl).toBe("http://localhost:3000");
    expect(config.logLevel).toBe("info");
    expect(config.trustProxy).toEqual({ enabled: false, hops: 0 });
    expect(config.dataDir).toBe(join(cwd, "data"));
    expect(config.database).toEqual({ kind: "sqlite", path: join(cwd, "data", "chatello.db") });
    expect(config.encryptionKey.length).toBe(32);
    expect(config.encryptionKeyGenerated).toBe(true);
    expect(config.encryptionKeysOld).toEqual([]);
    expect(config.memorySoftLimitMb).toBe(132);
    expect(config.providers).toEqual({
      openai: { baseUrl: "https://api.openai.com/v1", apiKey: null },
      anthropic: { baseUrl: "https://api.anthropic.com", apiKey: null },
      deepseek: { baseUrl: "https://api.deepseek.com", apiKey: null },
    });
  });

  test("empty and blank variables count as unset", async () => {
    const config = await load({
      PORT: "",
      HOST: " ",
      LOG_LEVEL: "",
      DATABASE_URL: "",
      OPENAI_API_KEY: "",
      OPENAI_BASE_URL: "",
      TRUST_PROXY: "",
      ENCRYPTION_KEY_OLD: "",
    });
    expect(config.port).toBe(3000);
    expect(config.host).toBe("0.0.0.0");
    expect(config.logLevel).toBe("info");
    expect(config.database.kind).toBe("sqlite");
    expect(config.providers.openai).toEqual({ baseUrl: "https://api.openai.com/v1", apiKey: null });
    expect(config.trustProxy.enabled).toBe(false);
    expect(config.encryptionKeysOld).toEqual([]);
  });

  test("the default public URL follows the port", async () => {
    expect((await load({ PORT: "8080" })).publicUrl).toBe("http://localhost:8080");
  });

  test("the default database lives in DATA_DIR", async () => {
    const config = await load({ DATA_DIR: "/var/lib/chatello" });
    expect(config.dataDir).toBe("/var/lib/chatello");
    expect(config.database).toEqual({ kind: "sqlite", path: "/var/lib/chatello/chatello.db" });
  });
});

describe("loadConfig parsing", () => {
  test("loadConfig reads every setting from the environment", async () => {
    const config = await load({
      PORT: "8080",
      HOST: "127.0.0.1",
      NODE_ENV: "production",
      PUBLIC_URL: "https://licenses.example.com/",
      LOG_LEVEL: "WARN",
      TRUST_PROXY: "2",
      DATA_DIR: "var/state",
      ENCRYPTION_KEY_OLD: `${OLD_KEY}, ${KEY}`,
      OPENAI_BASE_URL: "http://localhost:11434/v1/",
      OPENAI_API_KEY: " sk-proj-abc ",
      ANTHROPIC_API_KEY: "sk-ant-xyz",
      DEEPSEEK_BASE_URL: "https://proxy.example.com/deepseek",
      DEEPSEEK_API_KEY: "sk-deep",
    });
    expect(config.port).toBe(8080);
    expect(config.host).toBe("127.0.0.1");
    expect(config.nodeEnv).toBe("production");
    expect(config.publicUrl).toBe("https://licenses.example.com");
    expect(config.logLevel).toBe("warn");
    expect(config.trustProxy).toEqual({ enabled: true, hops: 2 });
    expect(config.dataDir).toBe(join(cwd, "var", "state"));
    expect([...config.encryptionKey]).toEqual([...Buffer.from(KEY, "base64")]);
    expect(config.encryptionKeyGenerated).toBe(false);
    expect(config.encryptionKeysOld.map((key) => Buffer.from(key).toString("base64"))).toEqual([OLD_KEY, KEY]);
    expect(config.providers).toEqual({
      openai: { baseUrl: "http://localhost:11434/v1", apiKey: "sk-proj-abc" },
      anthropic: { baseUrl: "https://api.anthropic.com", apiKey: "sk-ant-xyz" },
      deepseek: { baseUrl: "https://proxy.example.com/deepseek", apiKey: "sk-deep" },
    });
  });

  test("PORT accepts the whole range 0 to 65535", async () => {
    expect((await load({ PORT: "0" })).port).toBe(0);
    expect((await load({ PORT: "65535" })).port).toBe(65535);
  });

  test("PUBLIC_URL loses its trailing slashes and keeps its path", async () => {
    expect((await load({ PUBLIC_URL: "https://example.com" })).publicUrl).toBe("https://example.com");
    expect((await load({ PUBLIC_URL: "https://example.com//" })).publicUrl).toBe("https://example.com");
    expect((await load({ PUBLIC_URL: "HTTPS://Example.com:443/chatello/" })).publicUrl).toBe("https://example.com/chatello");
    expect((await load({ PUBLIC_URL: "http://example.com:8080/a/b/" })).publicUrl).toBe("http://example.com:8080/a/b");
  });

  test("TRUST_PROXY accepts booleans, yes/no and hop counts", async () => {
    const cases: Array<[string, { enabled: boolean; hops: number }]> = [
      ["true", { enabled: true, hops: 1 }],
      ["TRUE", { enabled: true, hops: 1 }],
      ["yes", { enabled: true, hops: 1 }],
      ["1", { enabled: true, hops: 1 }],
      ["3", { enabled: true, hops: 3 }],
      ["false", { enabled: false, hops: 0 }],
      ["no", { enabled: false, hops: 0 }],
      ["0", { enabled: false, hops: 0 }],
    ];
    for (const [value, expected] of cases) expect((await load({ TRUST_PROXY: value })).trustProxy).toEqual(expected);
  });

  test("every log level is accepted", async () => {
    for (const level of ["debug", "info", "warn", "error", "silent"]) {
      expect((await load({ LOG_LEVEL: level })).logLevel).toBe(level as never);
    }
  });

  test("DATABASE_URL accepts SQLite files, in-memory SQLite and MariaDB or MySQL URLs", async () => {
    expect((await load({ DATABASE_URL: "sqlite::memory:" })).database).toEqual({ kind: "sqlite", path: ":memory:" });
    expect((await load({ DATABASE_URL: "sqlite:/srv/chatello.db" })).database).toEqual({
      kind: "sqlite",
      path: "/srv/chatello.db",
    });
    expect((await load({ DATABASE_URL: "sqlite:///srv/chatello.db" })).database).toEqual({
      kind: "sqlite",
      path: "/srv/chatello.db",
    });
    expect((await load({ DATABASE_URL: "sqlite:db/app.db" })).database).toEqual({
      kind: "sqlite",
      path: join(cwd, "db", "app.db"),
    });
    expect((await load({ DATABASE_URL: "mariadb://chatello:s3cret@db.internal:3307/chatello_prod" })).database).toEqual({
      kind: "mariadb",
      url: "mariadb://chatello:s3cret@db.internal:3307/chatello_prod",
      host: "db.internal",
      port: 3307,
      user: "chatello",
      password: "s3cret",
      database: "chatello_prod",
    });
    expect((await load({ DATABASE_URL: "mysql://root:p%40ss%2Fword@127.0.0.1/chatello" })).database).toMatchObject({
      kind: "mariadb",
      host: "127.0.0.1",
      port: 3306,
      user: "root",
      password: "p@ss/word",
      database: "chatello",
    });
    expect((await load({ DATABASE_URL: "mariadb://app@db/chatello" })).database).toMatchObject({ user: "app", password: "" });
  });

  test("ENCRYPTION_KEY accepts padded, unpadded and URL-safe base64", async () => {
    const bytes = Uint8Array.from({ length: 32 }, (_, i) => 250 - i);
    const standard = Buffer.from(bytes).toString("base64");
    const variants = [standard, standard.replace(/=+$/, ""), Buffer.from(bytes).toString("base64url")];
    expect(variants[2]).toMatch(/[-_]/);
    for (const variant of variants) {
      expect([...(await load({ ENCRYPTION_KEY: variant })).encryptionKey]).toEqual([...bytes]);
    }
  });
});

describe("MEMORY_SOFT_LIMIT_MB", () => {
  test("takes 0 (no governor) or 32 MB and more", async () => {
    expect((await load({ MEMORY_SOFT_LIMIT_MB: "0" })).memorySoftLimitMb).toBe(0);
    expect((await load({ MEMORY_SOFT_LIMIT_MB: "32" })).memorySoftLimitMb).toBe(32);
    expect((await load({ MEMORY_SOFT_LIMIT_MB: "512" })).memorySoftLimitMb).toBe(512);
    const error = await configError(load({ MEMORY_SOFT_LIMIT_MB: "16" }));
    expect(error.message).toBe("Invalid configuration: MEMORY_SOFT_LIMIT_MB must be 0 or between 32 and 65536 (got 16)");
  });
});

describe("loadConfig errors", () => {
  test("a bad PORT gives the one-line message naming it", async () => {
    const error = await configError(load({ PORT: "abc" }));
    expect(error.variable).toBe("PORT");
    expect(error.message).toBe('Invalid configuration: PORT must be an integer between 0 and 65535 (got "abc")');
  });

  test("each malformed variable gives a ConfigError naming that variable", async () => {
    const cases: Array<[string, string]> = [
      ["PORT", "-1"],
      ["PORT", "65536"],
      ["PORT", "80.5"],
      ["PORT", "0x50"],
      ["HOST", "local host"],
      ["HOST", "http://example.com"],
      ["NODE_ENV", "prod"],
      ["PUBLIC_URL", "example.com"],
      ["PUBLIC_URL", "ftp://example.com"],
      ["PUBLIC_URL", "https://example.com/?a=1"],
      ["PUBLIC_URL", "https://example.com/#top"],
      ["PUBLIC_URL", "https://admin:pw@example.com"],
      ["LOG_LEVEL", "verbose"],
      ["MEMORY_SOFT_LIMIT_MB", "31"],
      ["MEMORY_SOFT_LIMIT_MB", "-1"],
      ["MEMORY_SOFT_LIMIT_MB", "65537"],
      ["MEMORY_SOFT_LIMIT_MB", "128MB"],
      ["TRUST_PROXY", "maybe"],
      ["TRUST_PROXY", "-1"],
      ["TRUST_PROXY", "1.5"],
      ["DATABASE_URL", "postgres://u:p@h/db"],
      ["DATABASE_URL", "chatello.db"],
      ["DATABASE_URL", "sqlite:"],
      ["DATABASE_URL", "mariadb://u:p@h"],
      ["DATABASE_URL", "mariadb://u:p@h/"],
      ["DATABASE_URL", "mariadb://u:p@h/chat-ello"],
      ["DATABASE_URL", "mariadb://:p@h/db"],
      ["DATABASE_URL", "mariadb:///db"],
      ["DATABASE_URL", "mariadb://u:p@h:99999/db"],
      ["ENCRYPTION_KEY", "too-short"],
      ["ENCRYPTION_KEY", "not base64 at all!"],
      ["ENCRYPTION_KEY_OLD", "c2hvcnQ="],
      ["OPENAI_BASE_URL", "api.openai.com"],
      ["ANTHROPIC_BASE_URL", "ws://api.anthropic.com"],
      ["DEEPSEEK_BASE_URL", "https://api.deepseek.com?x=1"],
    ];
    for (const [variable, value] of cases) {
      const error = await configError(load({ [variable]: value }));
      expect({ value, variable: error.variable }).toEqual({ value, variable });
      expect(error.message).toContain(variable);
    }
  });

  test("no DATABASE_URL error shows the password, however the URL is broken", async () => {
    const password = "Hunter2-Sup3rSecret";
    const urls = [
      `mariadb://chatello:${password}@db.internal:3306/`,
      `mariadb://chatello:${password}@db.internal:3306/bad-name`,
      `mariadb://chatello:${password}@db.internal:notaport/chatello`,
      `mariadb://chatello:${password}/x@db.internal/chatello`,
      `mariadb://:${password}@db.internal/chatello`,
      `mysql://chatello:${password}@/chatello`,
      `mariadb://chatello:${password}%zz@db/chatello`,
      `postgres://chatello:${password}@db.internal/chatello`,
      `chatello:${password}@db.internal/chatello`,
    ];
    for (const url of urls) {
      const error = await configError(load({ DATABASE_URL: url }));
      expect(error.variable).toBe("DATABASE_URL");
      expect(error.message).not.toContain(password);
      expect(error.message).not.toContain("Sup3r");
    }
  });

  test("a bad ENCRYPTION_KEY is described without echoing it", async () => {
    const sixteen = Buffer.from(new Uint8Array(16).fill(7)).toString("base64");
    const error = await configError(load({ ENCRYPTION_KEY: sixteen }));
    expect(error.variable).toBe("ENCRYPTION_KEY");
    expect(error.message).toContain("decodes to 16 bytes");
    expect(error.message).not.toContain(sixteen);
    expect(error.message).not.toContain(sixteen.slice(0, 8));

    const garbage = "S3CRET!not-base64";
    const invalid = await configError(load({ ENCRYPTION_KEY: garbage }));
    expect(invalid.message).toContain("not valid base64");
    expect(invalid.message).not.toContain("S3CRET");
  });

  test("a bad entry of ENCRYPTION_KEY_OLD is named by position, not by value", async () => {
    const bad = Buffer.from(new Uint8Array(31).fill(9)).toString("base64");
    const error = await configError(load({ ENCRYPTION_KEY_OLD: `${OLD_KEY},${bad}` }));
    expect(error.variable).toBe("ENCRYPTION_KEY_OLD");
    expect(error.message).toContain("entry 2 of 2");
    expect(error.message).toContain("decodes to 31 bytes");
    expect(error.message).not.toContain(bad);
    expect(error.message).not.toContain(OLD_KEY);
  });

  test("an unsupported DATABASE_URL scheme is named without the rest of the URL", async () => {
    const error = await configError(load({ DATABASE_URL: "postgres://u:p@h/db" }));
    expect(error.message).toBe(
      'Invalid configuration: DATABASE_URL must start with sqlite:, mariadb:// or mysql:// (got "postgres:")',
    );
  });
});

describe("encryption key file", () => {
  test("without ENCRYPTION_KEY a key is generated into DATA_DIR with owner-only permissions", async () => {
    const config = await loadConfig({ DATA_DIR: "state/deep" }, { cwd });
    const path = join(cwd, "state", "deep", "encryption.key");
    expect(config.encryptionKeyGenerated).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(cwd, "state", "deep")).mode & 0o777).toBe(0o700);
    expect(Buffer.from(readFileSync(path, "utf8").trim(), "base64")).toEqual(Buffer.from(config.encryptionKey));
  });

  test("the generated key is reused on the next load", async () => {
    const first = await loadConfig({}, { cwd });
    const second = await loadConfig({}, { cwd });
    expect(first.encryptionKeyGenerated).toBe(true);
    expect(second.encryptionKeyGenerated).toBe(false);
    expect([...second.encryptionKey]).toEqual([...first.encryptionKey]);
  });

  test("two processes starting at once end up with the same key and only one generates it", async () => {
    const results = await Promise.all(Array.from({ length: 8 }, () => loadConfig({}, { cwd })));
    expect(results.filter((config) => config.encryptionKeyGenerated).length).toBe(1);
    for (const config of results) expect([...config.encryptionKey]).toEqual([...results[0].encryptionKey]);
  });

  test("an existing key file written by an operator is read, whitespace and all", async () => {
    mkdirSync(join(cwd, "data"));
    writeFileSync(join(cwd, "data", "encryption.key"), `  ${OLD_KEY}\n\n`, { mode: 0o600 });
    const config = await loadConfig({}, { cwd });
    expect(config.encryptionKeyGenerated).toBe(false);
    expect(Buffer.from(config.encryptionKey).toString("base64")).toBe(OLD_KEY);
  });

  test("a corrupt key file is an error rather than a reason to generate a new key", async () => {
    mkdirSync(join(cwd, "data"));
    const path = join(cwd, "data", "encryption.key");
    writeFileSync(path, "c2hvcnQ=\n");
    const error = await configError(loadConfig({}, { cwd }));
    expect(error.variable).toBe("ENCRYPTION_KEY");
    expect(error.message).toContain(path);
    expect(readFileSync(path, "utf8")).toBe("c2hvcnQ=\n");
  });

  test("an explicit ENCRYPTION_KEY writes no key file", async () => {
    const config = await load({});
    expect(config.encryptionKeyGenerated).toBe(false);
    expect(existsSync(join(cwd, "data"))).toBe(false);
  });

  test("production refuses to start without ENCRYPTION_KEY, even with a key file present", async () => {
    const error = await configError(loadConfig({ NODE_ENV: "production" }, { cwd }));
    expect(error.variable).toBe("ENCRYPTION_KEY");
    expect(error.message).toContain("NODE_ENV=production");
    expect(existsSync(join(cwd, "data"))).toBe(false);

    await loadConfig({}, { cwd });
    await configError(loadConfig({ NODE_ENV: "production" }, { cwd }));
  });

  test("a bad variable elsewhere stops loading before any key file is written", async () => {
    await configError(loadConfig({ LOG_LEVEL: "loud" }, { cwd }));
    expect(existsSync(join(cwd, "data"))).toBe(false);
  });

  test("an unwritable DATA_DIR is reported as a ConfigError", async () => {
    writeFileSync(join(cwd, "blocker"), "");
    const error = await configError(loadConfig({ DATA_DIR: "blocker/data" }, { cwd }));
    expect(error.variable).toBe("DATA_DIR");
  });
});

describe("metrics access", () => {
  test("by default no token is set and only loopback may read /metrics", async () => {
    const config = await load({});
    expect(config.metricsToken).toBeNull();
    expect(config.metricsAllow).toEqual(["127.0.0.1", "::1"]);
  });

  test("METRICS_ALLOW takes addresses and CIDR ranges of both families, and none for no address", async () => {
    expect((await load({ METRICS_ALLOW: " 10.0.0.0/8, 192.168.1.7 ,fd00::/8,::1 " })).metricsAllow).toEqual(["10.0.0.0/8", "192.168.1.7", "fd00::/8", "::1"]);
    expect((await load({ METRICS_ALLOW: "none", METRICS_TOKEN: "0123456789abcdef" })).metricsAllow).toEqual([]);
  });

  test("a METRICS_ALLOW entry that is no address or range is refused, naming it", async () => {
    for (const entry of ["localhost", "10.0.0.0/33", "fd00::/129", "10.0.0.1/8/2", "300.1.1.1"]) {
      const error = await configError(load({ METRICS_ALLOW: `127.0.0.1,${entry}` }));
      expect(error.variable).toBe("METRICS_ALLOW");
      expect(error.message).toContain(JSON.stringify(entry));
    }
  });

  test("a METRICS_TOKEN shorter than 16 characters or with spaces is refused without repeating it", async () => {
    expect((await load({ METRICS_TOKEN: "0123456789abcdef" })).metricsToken).toBe("0123456789abcdef");
    for (const token of ["short-secret", "0123456789 abcdef"]) {
      const error = await configError(load({ METRICS_TOKEN: token }));
      expect(error.variable).toBe("METRICS_TOKEN");
      expect(error.message).not.toContain(token);
    }
  });
});

describe("CONFIG_VARIABLES", () => {
  test("CONFIG_VARIABLES documents exactly the variables loadConfig reads", async () => {
    const read = new Set<string>();
    const env = new Proxy({ ENCRYPTION_KEY: KEY } as Record<string, string | undefined>, {
      get(target, name) {
        if (typeof name === "string") read.add(name);
        return target[name as string];
      },
    });
    await loadConfig(env, { cwd });
    const documented = CONFIG_VARIABLES.map((variable) => variable.name);
    expect(new Set(documented).size).toBe(documented.length);
    expect([...read].sort()).toEqual([...documented].sort());
    for (const variable of CONFIG_VARIABLES) expect(variable.description.length).toBeGreaterThan(10);
  });
});
