// What every admin area module receives: the composed services and the signed-in admin of a request.
import type { Logger } from "../../logger.ts";
import type { Services } from "../../services.ts";
import type { AdminCaller } from "./admin_guard.ts";

/** The services the admin areas build on (ports and, where the admin needs them, the database adapters). */
export type AdminAreaDeps = Services & { logger: Logger; publicUrl: string; trustProxy: boolean };

/** The signed-in admin of a request (the guard ran before every admin route). */
export type AdminOf = (request: Request) => AdminCaller;
