import path from 'node:path';
import { type DynamicModule, Module } from '@nestjs/common';
import { ProxyController } from './proxy/proxy.controller';
import { loadSiteAssets } from './site/site-assets';
import { SiteController } from './site/site.controller';
import { SITE_ASSETS } from './site/site.tokens';

@Module({})
export class AppModule {
  /** `srcDir`: where the page's files are (this file's folder in dist/). */
  static forRoot(srcDir: string = __dirname): DynamicModule {
    return {
      module: AppModule,
      controllers: [SiteController, ProxyController],
      providers: [{ provide: SITE_ASSETS, useFactory: () => loadSiteAssets(path.resolve(srcDir)) }],
    };
  }
}
