import swaggerUi from 'swagger-ui-express';
import { z } from 'zod';
import { route, type RouteDef } from '../route.js';

/** The API document and Swagger UI, themselves routes of the document. */
export function docsRoutes(document: () => object): RouteDef[] {
  let html: string | undefined;
  return [
    route({
      method: 'get',
      path: '/api-docs.json',
      operationId: 'getApiDocument',
      summary: 'This OpenAPI 3.1 document',
      tags: ['Server'],
      success: { status: 200, description: 'the document', schema: z.object({ openapi: z.string() }).loose() },
      errors: [],
      handler: ({ res }) => {
        res.json(document());
        return undefined;
      },
    }),
    route({
      method: 'get',
      path: '/api-docs',
      operationId: 'getApiDocsPage',
      summary: 'Swagger UI over this document ("Authorize" takes the API key)',
      tags: ['Server'],
      success: { status: 200, description: 'an HTML page', contentType: 'text/html' },
      errors: [],
      handler: ({ req, res }) => {
        // The page loads its scripts relative to itself: they live under /api-docs/.
        if (!req.originalUrl.split('?')[0]?.endsWith('/')) {
          res.redirect(301, '/api-docs/');
          return undefined;
        }
        html ??= swaggerUi.generateHTML(document(), {
          customSiteTitle: 'WhatsApp multi-session API',
          swaggerOptions: { persistAuthorization: false, displayRequestDuration: true },
        });
        res.type('html').send(html);
        return undefined;
      },
    }),
  ];
}
