import type { Actor, AuditLog } from "../admin/mod.ts";
import { DomainError, type Clock } from "../shared/mod.ts";
import { parseCustomerDetails, type CustomerStore } from "./_admin_store.ts";
import type { Customer, Customers } from "./_types.ts";

/** Creates a customer from admin input; an e-mail already in use (any case) is a conflict on field "email". */
export async function createCustomer(
  deps: { customers: Customers; customerStore: CustomerStore; clock: Clock; audit: AuditLog },
  input: { details: { email?: unknown; name?: unknown; company?: unknown; notes?: unknown }; actor: Actor },
): Promise<Customer> {
  const details = parseCustomerDetails(input.details);
  if (await deps.customers.findByEmail(details.email)) {
    throw new DomainError("conflict", "A customer with this e-mail already exists", { field: "email" });
  }
  const now = deps.clock.now();
  const customer = await deps.customerStore.insert(details, now);
  await deps.audit.record(
    { actor: input.actor, action: "customer.created", targetType: "customer", targetId: customer.id, details: { email: customer.email } },
    now,
  );
  return customer;
}
