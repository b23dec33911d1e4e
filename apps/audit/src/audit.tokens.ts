/** The store on the app role's connection (reads, appends; no UPDATE or DELETE privilege). */
export const APP_STORE = Symbol('APP_STORE');
/** The store on the owner's connection: retention pruning only. */
export const OWNER_STORE = Symbol('OWNER_STORE');
