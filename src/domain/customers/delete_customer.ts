import type { Actor, AuditLog } from "../admin/mod.ts";
import { DomainError, type Clock } from "../shared/mod.ts";
import type { CustomerImpact, CustomerStore } from "./_admin_store.ts";
import type { Customers } from "./_types.ts";

/** Deletes a customer with its licenses, site activations and usage (the store cascades), and records what went. */
export async function deleteCustomer(
  deps: { customers: Customers; customerStore: CustomerStore; clock: Clock; audit: AuditLog },
  input: { id: number; actor: Actor },
): Promise<CustomerImpact> {
  const customer = await deps.customers.byId(input.id);
  if (!customer) throw new DomainError("not_found", "Customer not found");
  const impact = await deps.customerStore.impact(customer.id);
  const now = deps.clock.now();
  if (!(await deps.customerStore.remove(customer.id))) throw new DomainError("not_found", "Customer not found");
  await deps.audit.record(
    {
      actor: input.actor,
      action: "customer.deleted",
      targetType: "customer",
      targetId: customer.id,
      details: { email: customer.email, licenses: impact.licenses, active_sites: impact.activeSites, usage_events: impact.usageEvents },
    },
    now,
  );
  return impact;
}
