import type { Actor, AuditLog } from "../admin/mod.ts";
import { DomainError, type Clock } from "../shared/mod.ts";
import { parseCustomerDetails, type CustomerStore } from "./_admin_store.ts";
import type { Customer, Customers } from "./_types.ts";

/** Edits a customer's name, e-mail, company and notes; another customer's e-mail (any case) is a conflict on "email". */
export async function updateCustomer(
  deps: { customers: Customers; customerStore: CustomerStore; clock: Clock; audit: AuditLog },
  input: { id: number; details: { email?: unknown; name?: unknown; company?: unknown; notes?: unknown }; actor: Actor },
): Promise<Customer> {
  const before = await deps.customers.byId(input.id);
  if (!before) throw new DomainError("not_found", "Customer not found");
  const details = parseCustomerDetails(input.details);
  const holder = await deps.customers.findByEmail(details.email);
  if (holder && holder.id !== before.id) {
    throw new DomainError("conflict", "A customer with this e-mail already exists", { field: "email" });
  }
  const now = deps.clock.now();
  const after = await deps.customerStore.update(before.id, details, now);
  if (!after) throw new DomainError("not_found", "Customer not found");
  const changed = (["email", "name", "company", "notes"] as const).filter((k) => (before[k] ?? null) !== (after[k] ?? null));
  await deps.audit.record(
    { actor: input.actor, action: "customer.updated", targetType: "customer", targetId: before.id, details: { changed } },
    now,
  );
  return after;
}
