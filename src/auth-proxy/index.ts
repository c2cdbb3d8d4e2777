// AuthProxy's public entry: what services import to touch the bus. Nothing here connects until start().
export { BusClient, type BusClientOptions, type Handler, type MessageContext, type Responder } from './bus-client.js';
export { AuthProxyError, AuthProxyErrorCodes } from './errors.js';
export { closeShared, createBusClient, shareDirectory } from './from-context.js';
export { VerifyCache } from './verify-cache.js';
export type { DirectoryPayload } from './key-directory.js';
export type { AcceptedMessage } from './inbound.js';
