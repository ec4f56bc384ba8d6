import { isGrpcServiceError, type Connection } from '@temporalio/client';
import {
  encodeSearchAttributeIndexedValueType,
  SearchAttributeType,
} from '@temporalio/common/lib/search-attributes';

/**
 * Search attributes every Baton run sets, named with the Temporal CLI's type names
 * (`temporal server start-dev --search-attribute NAME=TYPE`).
 */
export const BATON_SEARCH_ATTRIBUTES = {
  BatonEnsemble: 'Keyword',
  BatonStatus: 'Keyword',
  BatonPendingApprovals: 'KeywordList',
} as const;

/** A search attribute type as the CLI spells it. */
export type CliSearchAttributeType =
  'Text' | 'Keyword' | 'Int' | 'Double' | 'Bool' | 'Datetime' | 'KeywordList';

const SDK_TYPE: Record<CliSearchAttributeType, SearchAttributeType> = {
  Text: SearchAttributeType.TEXT,
  Keyword: SearchAttributeType.KEYWORD,
  Int: SearchAttributeType.INT,
  Double: SearchAttributeType.DOUBLE,
  Bool: SearchAttributeType.BOOL,
  Datetime: SearchAttributeType.DATETIME,
  KeywordList: SearchAttributeType.KEYWORD_LIST,
};

// gRPC status ALREADY_EXISTS; @grpc/grpc-js is not a direct dependency, so the number is spelled out.
const GRPC_ALREADY_EXISTS = 6;

/** `--search-attribute NAME=TYPE` arguments for `temporal server start-dev`. */
export function searchAttributeArgs(
  attributes: Record<string, CliSearchAttributeType> = BATON_SEARCH_ATTRIBUTES,
): string[] {
  return Object.entries(attributes).flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`]);
}

/**
 * Registers Baton's search attributes in `namespace` where they are missing (for clusters Baton
 * did not start; a dev server gets them from its command line). Returns the names it added.
 */
export async function ensureSearchAttributes(
  connection: Pick<Connection, 'operatorService'>,
  namespace: string,
  attributes: Record<string, CliSearchAttributeType> = BATON_SEARCH_ATTRIBUTES,
): Promise<string[]> {
  const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
  const missing = Object.entries(attributes).filter(([name]) => customAttributes?.[name] === undefined);
  if (missing.length === 0) return [];
  const searchAttributes = Object.fromEntries(
    missing.map(([name, type]) => [name, encodeSearchAttributeIndexedValueType(SDK_TYPE[type])!]),
  );
  try {
    await connection.operatorService.addSearchAttributes({ namespace, searchAttributes });
  } catch (err) {
    // Another process (a second worker, a parallel test run) registered them first: same outcome.
    if (!(isGrpcServiceError(err) && Number(err.code) === GRPC_ALREADY_EXISTS)) throw err;
  }
  return missing.map(([name]) => name);
}
