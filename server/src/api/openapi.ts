/** The OpenAPI 3.1 description of the HTTP routes (served at GET /openapi.json). */
import { ERROR_CODES, PROTOCOL_VERSION } from '../contract/protocol.js';

const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

const auth = [{ bearer: [] }];

export function openApiDocument(serverVersion: string): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'nnseg companion server',
      version: serverVersion,
      description: `HTTP API of \`nnseg serve\`. Segmentation runs over the WebSocket at /ws (protocol version ${PROTOCOL_VERSION}, see docs/protocol.md).`,
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'Token from the server config; roles viewer < annotator < admin.' } },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string', enum: [...ERROR_CODES] }, message: { type: 'string' } } } },
        },
        ModelSummary: {
          type: 'object',
          required: ['name', 'datasetName', 'modality', 'labels', 'configurations', 'version'],
          properties: {
            name: { type: 'string' },
            datasetName: { type: 'string' },
            modality: { type: 'string' },
            labels: { type: 'object', additionalProperties: { oneOf: [{ type: 'integer' }, { type: 'array', items: { type: 'integer' } }] } },
            configurations: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, folds: { type: 'array', items: { type: 'string' } } } } },
            version: { type: 'string', description: 'importedAt of the model card' },
            description: { type: 'string' },
          },
        },
        ModelCard: { type: 'object', description: 'model-card.json (formatVersion 1), see server/src/models/model-card.ts' },
        StoredCorrection: {
          type: 'object',
          description: 'correction.json of a stored correction (StoredCorrectionSchema in server/src/api/corrections-schema.ts)',
          required: ['id', 'header', 'receivedAt', 'subject', 'byteLength'],
          properties: {
            id: { type: 'string', format: 'uuid' },
            header: { type: 'object', description: 'the X-Nnseg-Correction header as sent (CorrectionHeaderSchema, version 1)' },
            receivedAt: { type: 'string', format: 'date-time' },
            subject: { type: 'string', description: 'subject of the token that sent it' },
            byteLength: { type: 'integer' },
          },
        },
        JobRecord: {
          type: 'object',
          required: ['id', 'sessionId', 'state', 'model', 'createdAt'],
          properties: {
            id: { type: 'string' },
            sessionId: { type: 'string' },
            owner: { type: 'string' },
            state: { type: 'string', enum: ['queued', 'running', 'succeeded', 'failed', 'cancelled'] },
            model: { type: 'string' },
            createdAt: { type: 'string', format: 'date-time' },
            startedAt: { type: 'string', format: 'date-time' },
            endedAt: { type: 'string', format: 'date-time' },
            progress: { type: 'object' },
            error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } },
            resultSeriesInstanceUID: { type: 'string' },
          },
        },
      },
    },
    paths: {
      '/health': {
        get: {
          summary: 'Liveness and queue summary',
          responses: { '200': { description: 'up', content: { 'application/json': { schema: { type: 'object', properties: { status: { const: 'ok' }, version: { type: 'string' }, protocolVersion: { type: 'integer' }, uptimeSeconds: { type: 'number' }, jobs: { type: 'object' } } } } } } },
        },
      },
      '/metrics': { get: { summary: 'Prometheus metrics (text format 0.0.4)', responses: { '200': { description: 'metrics', content: { 'text/plain': { schema: { type: 'string' } } } } } } },
      '/openapi.json': { get: { summary: 'This document', responses: { '200': { description: 'OpenAPI 3.1 document' } } } },
      '/api/models': {
        get: {
          summary: 'Stored models',
          security: auth,
          responses: {
            '200': { description: 'models', content: { 'application/json': { schema: { type: 'object', properties: { models: { type: 'array', items: { $ref: '#/components/schemas/ModelSummary' } }, broken: { type: 'array', items: { type: 'object' } } } } } } },
            '401': errorResponse('no or unknown token (UNAUTHORIZED) or expired (TOKEN_EXPIRED)'),
          },
        },
      },
      '/api/models/import': {
        post: {
          summary: 'Import an nnU-Net model zip (nnUNetv2_export_model_to_zip); admin only',
          security: auth,
          parameters: [
            { name: 'name', in: 'query', schema: { type: 'string' }, description: 'model name (default: the dataset name)' },
            { name: 'replace', in: 'query', schema: { type: 'boolean' }, description: 'replace a stored model of the same name' },
          ],
          requestBody: { required: true, content: { 'application/zip': { schema: { type: 'string', contentMediaType: 'application/zip' } }, 'application/octet-stream': { schema: { type: 'string' } } } },
          responses: {
            '201': { description: 'imported', content: { 'application/json': { schema: { type: 'object', properties: { model: { $ref: '#/components/schemas/ModelCard' } } } } } },
            '400': errorResponse('not a usable model (BAD_MODEL): zip-slip entry, forbidden pickle global, missing files…'),
            '401': errorResponse('UNAUTHORIZED / TOKEN_EXPIRED'),
            '403': errorResponse('FORBIDDEN: not an admin token'),
            '413': errorResponse('PAYLOAD_TOO_LARGE'),
          },
        },
      },
      '/api/models/{name}': {
        parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }],
        get: {
          summary: 'Model card',
          security: auth,
          responses: { '200': { description: 'card', content: { 'application/json': { schema: { $ref: '#/components/schemas/ModelCard' } } } }, '404': errorResponse('UNKNOWN_MODEL') },
        },
        delete: {
          summary: 'Delete a stored model; admin only',
          security: auth,
          responses: { '204': { description: 'deleted' }, '403': errorResponse('FORBIDDEN'), '404': errorResponse('UNKNOWN_MODEL') },
        },
      },
      '/api/jobs': {
        get: {
          summary: 'Jobs (own jobs; admin: all)',
          security: auth,
          responses: { '200': { description: 'jobs', content: { 'application/json': { schema: { type: 'object', properties: { jobs: { type: 'array', items: { $ref: '#/components/schemas/JobRecord' } } } } } } } },
        },
      },
      '/api/jobs/{id}': {
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        get: {
          summary: 'One job',
          security: auth,
          responses: { '200': { description: 'job', content: { 'application/json': { schema: { $ref: '#/components/schemas/JobRecord' } } } }, '404': errorResponse('UNKNOWN_JOB') },
        },
      },
      '/api/corrections': {
        post: {
          summary: 'Store a corrected labelmap as a training label (annotator, admin); see docs/corrections.md',
          security: auth,
          parameters: [
            {
              name: 'X-Nnseg-Correction',
              in: 'header',
              required: true,
              description: 'JSON: { version: 1, model, studyInstanceUID, seriesInstanceUID, sourceSegSOPInstanceUID?, shape: [nz, ny, nx], labels: { name: value } }',
              schema: { type: 'string' },
            },
          ],
          requestBody: {
            required: true,
            description: 'uint8 labels, one per voxel, x fastest, planes ascending along the slice normal (the `partial` slab layout)',
            content: { 'application/octet-stream': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } } },
          },
          responses: {
            '201': { description: 'stored', content: { 'application/json': { schema: { type: 'object', required: ['id'], properties: { id: { type: 'string', format: 'uuid' } } } } } },
            '400': errorResponse('BAD_MESSAGE: bad header (the field is named), body length ≠ shape product, a label value not in the header'),
            '401': errorResponse('UNAUTHORIZED / TOKEN_EXPIRED'),
            '403': errorResponse('FORBIDDEN: a viewer token'),
            '413': errorResponse('PAYLOAD_TOO_LARGE: shape over limits.maxSeriesBytes'),
          },
        },
        get: {
          summary: 'Stored corrections; admin only',
          security: auth,
          responses: {
            '200': {
              description: 'corrections, oldest first, and folders that could not be read',
              content: { 'application/json': { schema: { type: 'object', properties: { corrections: { type: 'array', items: { $ref: '#/components/schemas/StoredCorrection' } }, broken: { type: 'array', items: { type: 'object' } } } } } },
            },
            '403': errorResponse('FORBIDDEN'),
          },
        },
      },
      '/api/corrections/{id}': {
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } }],
        delete: {
          summary: 'Delete a stored correction; admin only',
          security: auth,
          responses: { '204': { description: 'deleted' }, '403': errorResponse('FORBIDDEN'), '404': errorResponse('NOT_FOUND: no such correction') },
        },
      },
      '/api/training': {
        post: {
          summary: 'Start a train job (admin): build the dataset (corrections or a raw dataset under training.datasetsRoot), plan, preprocess, train, validate, register; see docs/training.md',
          security: auth,
          requestBody: {
            required: true,
            description: 'TrainRequest (server/src/jobs/training/train-request.ts): { source: { kind: "corrections", model? } | { kind: "dataset", name: "DatasetNNN_Name" }, configuration, fold?, registerAs, pretrained?, epochs?, iterationsPerEpoch?, validationIterations?, saveEvery?, seed?, backend?, network? }',
            content: { 'application/json': { schema: { type: 'object', required: ['source', 'configuration', 'registerAs'] } } },
          },
          responses: {
            '201': { description: '{ training: TrainingJobRecord } (queued)' },
            '400': errorResponse('BAD_MESSAGE: the field is named; no such dataset; no corrections'),
            '403': errorResponse('FORBIDDEN: not an admin token'),
            '404': errorResponse('UNKNOWN_MODEL: the pretrained model'),
            '429': errorResponse('LIMIT_EXCEEDED: too many train jobs waiting'),
            '503': errorResponse('PACS_UNAVAILABLE: corrections need a PACS'),
          },
        },
        get: { summary: 'Train jobs without their curves, oldest first (admin)', security: auth, responses: { '200': { description: '{ trainings: TrainingJobSummary[] }' }, '403': errorResponse('FORBIDDEN') } },
      },
      '/api/training/{id}': {
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } }],
        get: { summary: 'A train job with every epoch (admin)', security: auth, responses: { '200': { description: '{ training: TrainingJobRecord }' }, '404': errorResponse('UNKNOWN_JOB') } },
      },
      '/api/training/{id}/cancel': {
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } }],
        post: { summary: 'Cancel a queued or running train job (admin); it can be resumed', security: auth, responses: { '200': { description: '{ training }' }, '404': errorResponse('UNKNOWN_JOB'), '409': errorResponse('BAD_STATE: already ended') } },
      },
      '/api/training/{id}/resume': {
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } }],
        post: { summary: 'Resume a cancelled, failed or interrupted train job from its last saved epoch (admin)', security: auth, responses: { '200': { description: '{ training }' }, '404': errorResponse('UNKNOWN_JOB'), '409': errorResponse('BAD_STATE: running, queued or succeeded') } },
      },
      '/ws': { get: { summary: 'WebSocket upgrade (see docs/protocol.md)', responses: { '101': { description: 'switching protocols' }, '401': { description: 'bad token on the upgrade' }, '403': { description: 'origin not allowed' } } } },
    },
  };
}
