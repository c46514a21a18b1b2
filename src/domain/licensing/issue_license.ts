import type { Actor, AuditLog } from "../admin/mod.ts";
import type { EventSink } from "../webhooks/mod.ts";
import { newCustomerFromEmail, type Customer, type Customers } from "../customers/mod.ts";
import type { Keyring } from "../encryption/mod.ts";
import type { Plans } from "../plans/mod.ts";
import { DomainError, type Clock, type Random } from "../shared/mod.ts";
import { generateLicenseKey, licenseKeyDigest, licenseKeyPrefix } from "./_key.ts";
import { normalizeSiteHost } from "./_sites.ts";
import { defaultTermFor, expiryFor, type LicenseTerm } from "./_status.ts";
import type { License, Licenses, SiteActivations } from "./_types.ts";

/** What issuing a license hands back: the only moment the full key is returned unsealed. */
export interface IssuedLicense {
  licenseKey: string;
  license: License;
  customer: Customer;
  customerCreated: boolean;
}

/**
 * Issues a license for an e-mail: reuses the customer with that address or creates one named after its
 * local part, seals the key, enforces a lifetime plan's cap atomically, and binds the optional domain.
 */
export async function issueLicense(
  deps: {
    customers: Customers;
    plans: Plans;
    licenses: Licenses;
    sites: SiteActivations;
    keyring: Keyring;
    random: Random;
    clock: Clock;
    audit: AuditLog;
    events?: EventSink;
  },
  input: { email: string; planName: string; term?: LicenseTerm; domain?: string | null; actor: Actor; metadata?: Record<string, unknown> },
): Promise<IssuedLicense> {
  const plan = await deps.plans.byName(input.planName);
  if (!plan || !plan.active) throw new DomainError("not_found", `Unknown plan: ${input.planName}`, { field: "plan" });
  const newCustomer = newCustomerFromEmail(input.email);
  let domain: string | null = null;
  if (input.domain) {
    domain = normalizeSiteHost(input.domain);
    if (!domain) throw new DomainError("invalid_argument", "domain is not a valid site address", { field: "domain" });
  }
  const now = deps.clock.now();
  const expiresAt = expiryFor(input.term ?? defaultTermFor(plan), now);
  const { customer, created } = await deps.customers.findOrCreate(newCustomer, now);
  const licenseKey = generateLicenseKey(deps.random);
  const license = await deps.licenses.insert(
    {
      keyDigest: await licenseKeyDigest(licenseKey),
      keySealed: await deps.keyring.seal(licenseKey, "license_key"),
      keyPrefix: licenseKeyPrefix(licenseKey),
      customerId: customer.id,
      planId: plan.id,
      status: "active",
      domain: null,
      expiresAt,
      activatedAt: null,
      lastValidatedAt: null,
      metadata: input.metadata ?? {},
      createdAt: now,
      updatedAt: now,
    },
    plan.lifetimeCap != null ? { planId: plan.id, max: plan.lifetimeCap } : null,
  );
  if (domain) await deps.sites.activate(license.id, domain, plan.limits.maxSites, now);
  await deps.audit.record(
    {
      actor: input.actor,
      action: "license.created",
      targetType: "license",
      targetId: license.id,
      details: { plan: plan.name, customer_id: customer.id, customer_created: created, key_prefix: license.keyPrefix, expires_at: expiresAt?.toISOString() ?? null },
    },
    now,
  );
  await deps.events?.emit(
    "license.created",
    { license_id: license.id, key_prefix: license.keyPrefix, customer_id: customer.id, customer_email: customer.email, plan: plan.name, expires_at: expiresAt?.toISOString() ?? null },
    now,
  );
  const fresh = domain ? ((await deps.licenses.byId(license.id)) ?? license) : license;
  return { licenseKey, license: fresh, customer, customerCreated: created };
}
