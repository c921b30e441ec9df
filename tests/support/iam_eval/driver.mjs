// IAM evaluation driver (test-only): decides a batch of requests with @cloud-copilot/iam-simulate's core engine.
//
// @cloud-copilot/iam-simulate and @cloud-copilot/iam-policy are AGPL-3.0-or-later: they are devDependencies of the
// repository root, used only by the tests through this driver, never shipped with the construct library.
//
// Why the core `authorize()` and not `runSimulation()` (FIELD-NOTES, "IAM policy evaluation"): the validating entry
// point drops every context key it does not list for the action (`cognito-identity.amazonaws.com:sub` for S3,
// `kms:EncryptionContext:<key>`, the GitHub OIDC keys for AssumeRoleWithWebIdentity), so real findings would read
// as denied and pass unnoticed. Here every policy is validated with @cloud-copilot/iam-policy for its kind and loaded
// under a name, the caller types each context value, and nothing is dropped.
//
// Input (stdin, JSON):
//   {"policies": {"<name>": {"kind": "identity|resource|trust|boundary|endpoint|session|scp|rcp",
//                            "document": {...}}},
//    "requests": [{"id": "...", "principal": "<arn | service principal | federated provider>" | {"type": "Anonymous"},
//                  "action": "s3:PutObject", "resource": "arn:...", "resourceAccount": "111111111111",
//                  "context": {"aws:SecureTransport": {"type": "Bool", "value": true}, ...},
//                  "identityPolicies": ["<name>", ...], "resourcePolicy": "<name>" | null,
//                  "permissionBoundaries": ["<name>"], "endpointPolicies": ["<name>"], "sessionPolicy": "<name>",
//                  "scps": [{"orgIdentifier": "o-1", "policies": ["<name>"]}], "rcps": [...],
//                  "wildcardOnlyAction": false}]}
// Context values are typed: {"type": "String"|"Bool"|"Numeric"|"Date"|"Arn"|"IpAddress", "value": scalar} or
// {"type": "<same>List", "value": [...]} for a multi-valued key (aws:CalledVia, ...:amr). Nothing is inferred.
//
// Output (stdout, JSON): {"decisions": [{"id", "result": "Allowed|ExplicitlyDenied|ImplicitlyDenied",
//   "blockedBy": [...], "deciding": [{"policy", "kind", "effect", "sid", "index"}]}]}
// `deciding` is, for an explicit deny, every matching Deny statement of every layer; for an allow, every matching
// Allow statement of the identity, resource and endpoint layers (the grants that made it pass); for an implicit deny,
// empty (no statement decides it: `blockedBy`/`missing` say which layer had no Allow).
//
// Endpoint policies: the core engine ignores the Principal of endpoint-policy statements (and the iam-policy
// validator rejects `"Principal": {"AWS": "*"}`, which CDK renders for AnyPrincipal and AWS accepts). This driver
// therefore matches endpoint-policy principals itself, per request, with AWS's rules for the principal forms endpoint
// policies use ("*", {"AWS": "*"}, account ids / account root ARNs, role ARNs matched by their sessions, service
// principals), keeps only the statements whose principal matches (a statement whose principal does not match does not
// apply, exactly as in AWS) with their Principal rewritten to "*", and reports each statement by its original index.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');
const simulateDist = join(root, 'node_modules', '@cloud-copilot', 'iam-simulate', 'dist', 'esm');
const policyDist = join(root, 'node_modules', '@cloud-copilot', 'iam-policy', 'dist', 'esm', 'index.js');

const { authorize } = await import(pathToFileURL(join(simulateDist, 'core_engine', 'CoreSimulatorEngine.js')).href);
const { AwsRequestImpl } = await import(pathToFileURL(join(simulateDist, 'request', 'request.js')).href);
const { RequestContextImpl } = await import(pathToFileURL(join(simulateDist, 'requestContext.js')).href);
const { DiscoveryContextKeyConstraints } = await import(
  pathToFileURL(join(simulateDist, 'context_keys', 'discoveryContextKeyConstraints.js')).href
);
const policyLib = await import(pathToFileURL(policyDist).href);

const VALIDATORS = {
  identity: policyLib.validateIdentityPolicy,
  boundary: policyLib.validateIdentityPolicy,
  session: policyLib.validateSessionPolicy,
  resource: policyLib.validateResourcePolicy,
  trust: policyLib.validateTrustPolicy,
  endpoint: policyLib.validateEndpointPolicy,
  scp: policyLib.validateServiceControlPolicy,
  rcp: policyLib.validateResourceControlPolicy
};

const SCALAR_TYPES = new Set(['String', 'Bool', 'Numeric', 'Date', 'Arn', 'IpAddress', 'Binary', 'Null']);

class InputError extends Error {}

function fail(message) {
  throw new InputError(message);
}

function asList(value) {
  return Array.isArray(value) ? value : [value];
}

/** The context as the engine reads it (strings and string arrays), from values the caller typed. */
function typedContext(context, requestId) {
  const out = {};
  for (const [key, typed] of Object.entries(context ?? {})) {
    if (typed === null || typeof typed !== 'object' || !('type' in typed) || !('value' in typed)) {
      fail(`request ${requestId}: context key ${key} must be {"type": ..., "value": ...}`);
    }
    const { type, value } = typed;
    const isList = type.endsWith('List');
    const base = isList ? type.slice(0, -4) : type;
    if (!SCALAR_TYPES.has(base)) fail(`request ${requestId}: context key ${key} has unknown type ${type}`);
    if (isList !== Array.isArray(value)) {
      fail(`request ${requestId}: context key ${key} of type ${type} must be ${isList ? 'a list' : 'a scalar'}`);
    }
    const one = (v) => {
      if (base === 'Bool') {
        if (typeof v !== 'boolean') fail(`request ${requestId}: context key ${key} (Bool) must be true/false`);
        return v ? 'true' : 'false';
      }
      if (base === 'Numeric') {
        if (typeof v !== 'number') fail(`request ${requestId}: context key ${key} (Numeric) must be a number`);
        return String(v);
      }
      if (typeof v !== 'string') fail(`request ${requestId}: context key ${key} (${base}) must be a string`);
      return v;
    };
    out[key] = isList ? value.map(one) : one(value);
  }
  return out;
}

/** Validate every named policy for its kind and load it once. Endpoint policies are kept raw (see header). */
function loadPolicies(policies) {
  const loaded = new Map();
  for (const [name, { kind, document }] of Object.entries(policies ?? {})) {
    const validate = VALIDATORS[kind];
    if (!validate) fail(`policy ${name}: unknown kind ${kind}`);
    if (kind === 'endpoint') {
      const errors = validate(endpointWithStarPrincipals(document.Statement ? document : { Statement: [] }));
      if (errors.length) fail(`policy ${name} (${kind}) is invalid: ${JSON.stringify(errors)}`);
      loaded.set(name, { kind, document });
      continue;
    }
    const errors = validate(document);
    if (errors.length) fail(`policy ${name} (${kind}) is invalid: ${JSON.stringify(errors)}`);
    loaded.set(name, { kind, policy: policyLib.loadPolicy(document, { name }), document });
  }
  return loaded;
}

function endpointWithStarPrincipals(document) {
  return {
    ...document,
    Statement: asList(document.Statement).map((s) => ('Principal' in s ? { ...s, Principal: '*' } : s))
  };
}

/** Whether an endpoint-policy statement's Principal names the request's principal (AWS's matching rules). */
function endpointPrincipalMatches(principalField, requestPrincipal) {
  if (principalField === undefined || principalField === '*') return true;
  if (typeof requestPrincipal !== 'string') return false; // anonymous matches only "*"
  for (const [type, values] of Object.entries(principalField)) {
    for (const value of asList(values)) {
      if (type === 'AWS') {
        if (value === '*') return true;
        const account = /^\d{12}$/.test(value) ? value : (value.match(/^arn:[^:]+:iam::(\d{12}):root$/) ?? [])[1];
        const requestAccount = requestPrincipal.split(':')[4];
        if (account && requestPrincipal.startsWith('arn:') && requestAccount === account) return true;
        if (value === requestPrincipal) return true;
        const role = value.match(/^arn:([^:]+):iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/);
        const session = requestPrincipal.match(/^arn:([^:]+):sts::(\d{12}):assumed-role\/([^/]+)\//);
        if (role && session && role[1] === session[1] && role[2] === session[2] && role[3] === session[3]) return true;
      } else if (type === 'Service' || type === 'Federated') {
        if (value === requestPrincipal) return true;
      }
    }
  }
  return false;
}

function endpointPolicyFor(name, entry, requestPrincipal) {
  const statements = asList(entry.document.Statement);
  const kept = [];
  const originalIndex = [];
  statements.forEach((statement, i) => {
    if (endpointPrincipalMatches(statement.Principal, requestPrincipal)) {
      kept.push('Principal' in statement ? { ...statement, Principal: '*' } : statement);
      originalIndex.push(i + 1);
    }
  });
  return {
    policy: policyLib.loadPolicy({ ...entry.document, Statement: kept }, { name }),
    originalIndex
  };
}

function getPolicy(loaded, name, requestId, kinds) {
  const entry = loaded.get(name);
  if (!entry) fail(`request ${requestId}: unknown policy ${name}`);
  if (!kinds.includes(entry.kind)) fail(`request ${requestId}: policy ${name} is ${entry.kind}, not ${kinds}`);
  return entry;
}

function describe(statementAnalysis, kind, indexMaps) {
  const statement = statementAnalysis.statement;
  const name = statementAnalysis.policyId;
  const map = indexMaps.get(name);
  return {
    policy: name,
    kind,
    effect: statement.effect(),
    sid: statement.sid() ?? null,
    index: map ? map[statement.index() - 1] : statement.index()
  };
}

function decide(request, loaded) {
  const id = request.id;
  if (!request.action) fail(`request ${id}: action is required`);
  if (!request.resource) fail(`request ${id}: resource is required`);
  if (request.principal === undefined) fail(`request ${id}: principal is required`);
  const kindOf = new Map();
  const named = (names, kinds) =>
    (names ?? []).map((n) => {
      const entry = getPolicy(loaded, n, id, kinds);
      kindOf.set(n, entry.kind);
      return entry.policy;
    });
  const identityPolicies = named(request.identityPolicies, ['identity']);
  const permissionBoundaries = request.permissionBoundaries?.length
    ? named(request.permissionBoundaries, ['boundary', 'identity'])
    : undefined;
  const sessionPolicy = request.sessionPolicy ? named([request.sessionPolicy], ['session', 'identity'])[0] : undefined;
  const resourcePolicy = request.resourcePolicy
    ? named([request.resourcePolicy], ['resource', 'trust'])[0]
    : undefined;
  const control = (groups, kinds) =>
    (groups ?? []).map((g) => ({ orgIdentifier: g.orgIdentifier, policies: named(g.policies, kinds) }));
  const indexMaps = new Map();
  let vpcEndpointPolicies;
  if (request.endpointPolicies?.length) {
    vpcEndpointPolicies = request.endpointPolicies.map((n) => {
      const entry = getPolicy(loaded, n, id, ['endpoint']);
      kindOf.set(n, 'endpoint');
      const { policy, originalIndex } = endpointPolicyFor(n, entry, request.principal);
      indexMaps.set(n, originalIndex);
      return policy;
    });
  }
  const resourceAccount = request.resourceAccount ?? (request.resource.split(':')[4] || undefined);
  const awsRequest = new AwsRequestImpl(
    request.principal,
    { resource: request.resource, accountId: resourceAccount },
    request.action,
    new RequestContextImpl(typedContext(request.context, id)),
    request.wildcardOnlyAction ?? request.resource === '*'
  );
  const analysis = authorize({
    request: awsRequest,
    sessionPolicy,
    identityPolicies,
    serviceControlPolicies: control(request.scps, ['scp']),
    resourceControlPolicies: control(request.rcps, ['rcp']),
    resourcePolicy,
    permissionBoundaries,
    vpcEndpointPolicies,
    simulationParameters: {
      simulationMode: 'Strict',
      discoveryContextKeyConstraints: new DiscoveryContextKeyConstraints([])
    },
    serviceSettings: { s3: { blockPublicAccess: request.s3BlockPublicAccess } }
  });

  const layers = [
    ['identity', analysis.identityAnalysis],
    ['session', analysis.sessionAnalysis],
    ['resource', analysis.resourceAnalysis],
    ['boundary', analysis.permissionBoundaryAnalysis],
    ['endpoint', analysis.endpointAnalysis]
  ];
  for (const [layer, ous] of [
    ['scp', analysis.scpAnalysis?.ouAnalysis],
    ['rcp', analysis.rcpAnalysis?.ouAnalysis]
  ]) {
    for (const ou of ous ?? []) layers.push([layer, ou]);
  }
  const deciding = [];
  if (analysis.result === 'ExplicitlyDenied') {
    for (const [, layerAnalysis] of layers) {
      for (const s of layerAnalysis?.denyStatements ?? []) {
        deciding.push(describe(s, kindOf.get(s.policyId), indexMaps));
      }
    }
  } else if (analysis.result === 'Allowed') {
    for (const [layer, layerAnalysis] of layers) {
      if (!['identity', 'resource', 'endpoint'].includes(layer)) continue;
      for (const s of layerAnalysis?.allowStatements ?? []) {
        deciding.push(describe(s, kindOf.get(s.policyId), indexMaps));
      }
    }
  }
  // For an implicit deny: the layers that had no matching Allow (the engine's blockedBy is set only when the core
  // result was Allowed and a guardrail took it away).
  const missing = [];
  if (analysis.result === 'ImplicitlyDenied') {
    for (const [layer, layerAnalysis] of layers) {
      if (layerAnalysis && layerAnalysis.result === 'ImplicitlyDenied') missing.push(layer);
    }
  }
  return { id, result: analysis.result, blockedBy: analysis.blockedBy ?? [], missing, deciding };
}

function main() {
  let input;
  try {
    input = JSON.parse(readFileSync(0, 'utf8'));
  } catch (e) {
    process.stderr.write(`iam_eval driver: stdin is not JSON: ${e.message}\n`);
    process.exit(2);
  }
  try {
    const loaded = loadPolicies(input.policies);
    const decisions = (input.requests ?? []).map((r) => decide(r, loaded));
    process.stdout.write(JSON.stringify({ decisions }));
  } catch (e) {
    process.stderr.write(`iam_eval driver: ${e instanceof InputError ? e.message : e.stack}\n`);
    process.exit(e instanceof InputError ? 2 : 1);
  }
}

main();
