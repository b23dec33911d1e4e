import { Controller, Get, Inject, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { AppError } from '@metering/contracts';
import { SITE_ASSETS } from './site.tokens';
import type { SiteAssets } from './site-assets';

/**
 * Everything the page loads comes from here or `/api`: no inline script or style, no other
 * origin (the browser may have no internet), and no framing.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

@ApiExcludeController()
@Controller()
export class SiteController {
  constructor(@Inject(SITE_ASSETS) private readonly assets: SiteAssets) {}

  @Get(['', 'app.css', 'app.js'])
  serve(@Req() req: Request, @Res() res: Response): void {
    // The router also matches other spellings (`/APP.JS`, `/app.js/`): the page has one address each.
    const asset = this.assets.get(req.path);
    if (!asset) throw new AppError('not_found', 'not_found', `Cannot GET ${req.path}`);
    res.setHeader('content-type', asset.contentType);
    res.setHeader('etag', asset.etag);
    res.setHeader('cache-control', 'no-cache');
    res.setHeader('content-security-policy', CONTENT_SECURITY_POLICY);
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('referrer-policy', 'no-referrer');
    if (req.header('if-none-match') === asset.etag) {
      res.status(304).end();
      return;
    }
    res.status(200).end(asset.body);
  }
}
