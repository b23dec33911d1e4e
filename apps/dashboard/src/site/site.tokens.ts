/** The page's files, read once at boot (`SiteAssets`). */
export const SITE_ASSETS = Symbol('SITE_ASSETS');
