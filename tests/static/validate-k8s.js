// validate-k8s.js: checks rendered Kubernetes objects (helm template
// output) against the Kubernetes schemas and Postmesh's project rules.
//
//   NODE_PATH=build/npm/node_modules node tests/static/validate-k8s.js FILE...
//
// Each FILE is a multi-document YAML stream, checked on its own (one
// rendering of the chart). Exit 0 when every object passes, else 1 with
// one line per problem ("FILE: Kind/name: what: got X, want Y").
//
// Schema: every object whose apiVersion/kind kubernetes-models knows is
// validated with it (types, required fields, enums, formats). Limit:
// those schemas allow unknown fields, so a misspelt field is not caught
// by the schema itself (the rules below catch the ones that matter:
// a misspelt probe or securityContext is a missing one).
// Custom resources kubernetes-models cannot know (CRDS below: Prometheus
// Operator, KEDA, cert-manager) are checked for shape only: apiVersion
// group/version, kind, metadata.name a DNS-1123 name, spec an object.
// Any other unknown kind fails.
//
// Project rules:
//  - every container: resources.requests and .limits with cpu and
//    memory; livenessProbe and readinessProbe; runAsNonRoot (its own or
//    the pod's), readOnlyRootFilesystem, allowPrivilegeEscalation false,
//    capabilities.drop ALL;
//  - every workload's selector matches its pod template's labels;
//  - every Service selects a pod template, and each targetPort (name or
//    number; default the port) is a containerPort of a pod it selects;
//  - a StatefulSet's serviceName is a Service of the output;
//  - every pod template is selected by a NetworkPolicy (every role has
//    one);
//  - every PodDisruptionBudget selects a pod template; every HPA and
//    ScaledObject targets a workload of the output.
'use strict';

const fs = require('fs');
const path = require('path');
const YAML = require('yaml');

const CRDS = {
  'monitoring.coreos.com': ['ServiceMonitor', 'PrometheusRule', 'PodMonitor'],
  'keda.sh': ['ScaledObject', 'TriggerAuthentication'],
  'cert-manager.io': ['Certificate', 'Issuer'],
};
const WORKLOADS = ['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job'];
const DNS1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function modelFor(apiVersion, kind) {
  // core/v1 objects live in kubernetes-models/v1, others in <group>/<version>
  try {
    const mod = require(`kubernetes-models/${apiVersion}/${kind}`);
    return mod[kind] || null;
  } catch (e) {
    if (e.code === 'MODULE_NOT_FOUND' || e.code === 'ERR_PACKAGE_PATH_NOT_EXPORTED') {
      return null;
    }
    throw e;
  }
}

function isCRD(apiVersion, kind) {
  const group = String(apiVersion).split('/')[0];
  return (CRDS[group] || []).includes(kind);
}

// labels selected by a plain map selector (matchLabels or a Service's)
function selects(selector, labels) {
  if (!selector || Object.keys(selector).length === 0) {
    return false;
  }
  return Object.entries(selector).every(([k, v]) => (labels || {})[k] === v);
}

// a LabelSelector (matchLabels + matchExpressions)
function labelSelectorMatches(sel, labels) {
  if (!sel) {
    return false;
  }
  const l = labels || {};
  const ml = sel.matchLabels || {};
  const exprs = sel.matchExpressions || [];
  if (Object.keys(ml).length === 0 && exprs.length === 0) {
    return true; // {} selects everything
  }
  if (!Object.entries(ml).every(([k, v]) => l[k] === v)) {
    return false;
  }
  return exprs.every((e) => {
    switch (e.operator) {
      case 'In': return (e.values || []).includes(l[e.key]);
      case 'NotIn': return !(e.values || []).includes(l[e.key]);
      case 'Exists': return e.key in l;
      case 'DoesNotExist': return !(e.key in l);
      default: return false;
    }
  });
}

function podTemplate(o) {
  if (o.kind === 'Pod') {
    return { metadata: o.metadata, spec: o.spec };
  }
  if (WORKLOADS.includes(o.kind)) {
    return (o.spec || {}).template || null;
  }
  return null;
}

function checkContainer(err, c, pod) {
  const where = `container ${c.name}`;
  const r = c.resources || {};
  for (const part of ['requests', 'limits']) {
    for (const res of ['cpu', 'memory']) {
      if (!r[part] || r[part][res] === undefined) {
        err(`${where}: resources.${part}.${res}: got none, want a value`);
      }
    }
  }
  for (const p of ['livenessProbe', 'readinessProbe']) {
    if (!c[p]) {
      err(`${where}: ${p}: got none, want one`);
    }
  }
  const sc = c.securityContext || {};
  const psc = (pod.spec || {}).securityContext || {};
  const nonRoot = sc.runAsNonRoot !== undefined ? sc.runAsNonRoot : psc.runAsNonRoot;
  if (nonRoot !== true) {
    err(`${where}: runAsNonRoot: got ${nonRoot}, want true`);
  }
  const uid = sc.runAsUser !== undefined ? sc.runAsUser : psc.runAsUser;
  if (uid === 0) {
    err(`${where}: runAsUser: got 0, want a non-root uid`);
  }
  if (sc.readOnlyRootFilesystem !== true) {
    err(`${where}: readOnlyRootFilesystem: got ${sc.readOnlyRootFilesystem}, want true`);
  }
  if (sc.allowPrivilegeEscalation !== false) {
    err(`${where}: allowPrivilegeEscalation: got ${sc.allowPrivilegeEscalation}, want false`);
  }
  const drop = ((sc.capabilities || {}).drop) || [];
  if (!drop.includes('ALL')) {
    err(`${where}: capabilities.drop: got ${JSON.stringify(drop)}, want ALL`);
  }
}

function checkFile(file) {
  const problems = [];
  const docs = YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'));
  const objs = [];
  for (const d of docs) {
    if (d.errors.length) {
      problems.push(`${file}: YAML: ${d.errors[0].message}`);
      continue;
    }
    const o = d.toJSON();
    if (o !== null && o !== undefined) {
      objs.push(o);
    }
  }
  const name = (o) => `${o.kind}/${(o.metadata || {}).name}`;
  const errFor = (o) => (msg) => problems.push(`${file}: ${name(o)}: ${msg}`);

  // schema
  for (const o of objs) {
    const err = errFor(o);
    if (typeof o.apiVersion !== 'string' || typeof o.kind !== 'string') {
      err('apiVersion and kind: got none, want strings');
      continue;
    }
    const Model = modelFor(o.apiVersion, o.kind);
    if (Model) {
      try {
        new Model(o).validate();
      } catch (e) {
        err(`schema: ${e.message}`);
      }
    } else if (isCRD(o.apiVersion, o.kind)) {
      if (!/^[a-z0-9.-]+\/v[0-9a-z]+$/.test(o.apiVersion)) {
        err(`apiVersion: got ${o.apiVersion}, want group/version`);
      }
      const n = (o.metadata || {}).name;
      if (typeof n !== 'string' || !DNS1123.test(n) || n.length > 253) {
        err(`metadata.name: got ${JSON.stringify(n)}, want a DNS-1123 name`);
      }
      if (!o.spec || typeof o.spec !== 'object' || Array.isArray(o.spec)) {
        err('spec: got none, want an object');
      }
    } else {
      err(`unknown apiVersion/kind ${o.apiVersion}/${o.kind}: no schema`);
    }
  }

  const pods = []; // {owner, tpl}
  for (const o of objs) {
    const tpl = podTemplate(o);
    if (!tpl) {
      continue;
    }
    const err = errFor(o);
    pods.push({ owner: o, tpl });
    const spec = tpl.spec || {};
    for (const c of (spec.containers || [])) {
      checkContainer(err, c, tpl);
    }
    for (const c of (spec.initContainers || [])) {
      // init containers run to completion: no probes, the rest applies
      checkContainer((m) => { if (!/Probe/.test(m)) err(m); }, c, tpl);
    }
    if (o.kind !== 'Pod') {
      const labels = (tpl.metadata || {}).labels || {};
      const sel = (o.spec || {}).selector;
      if (!sel || !labelSelectorMatches(sel, labels) ||
          Object.keys(sel.matchLabels || {}).length + (sel.matchExpressions || []).length === 0) {
        err(`selector: got ${JSON.stringify(sel)}, want one matching the template labels ` +
          `${JSON.stringify(labels)}`);
      }
    }
    if (o.kind === 'StatefulSet') {
      const svc = (o.spec || {}).serviceName;
      if (!objs.some((s) => s.kind === 'Service' && (s.metadata || {}).name === svc)) {
        err(`serviceName: got ${JSON.stringify(svc)}, want a Service of the output`);
      }
    }
  }

  // Services: selector and targetPort
  for (const s of objs.filter((x) => x.kind === 'Service')) {
    const err = errFor(s);
    const sel = (s.spec || {}).selector;
    const chosen = pods.filter((p) => selects(sel, (p.tpl.metadata || {}).labels));
    if (chosen.length === 0) {
      err(`selector ${JSON.stringify(sel)}: got no pod template, want at least one`);
      continue;
    }
    for (const port of ((s.spec || {}).ports || [])) {
      const tp = port.targetPort !== undefined ? port.targetPort : port.port;
      const ok = chosen.some((p) => ((p.tpl.spec || {}).containers || []).some((c) =>
        (c.ports || []).some((cp) => (typeof tp === 'number' ? cp.containerPort === tp : cp.name === tp))));
      if (!ok) {
        err(`port ${port.name || port.port}: targetPort ${JSON.stringify(tp)}: ` +
          'got no containerPort of that name or number in the pods it selects, want one');
      }
    }
  }

  // every pod template has a NetworkPolicy
  const nps = objs.filter((x) => x.kind === 'NetworkPolicy');
  for (const p of pods) {
    const labels = (p.tpl.metadata || {}).labels || {};
    if (!nps.some((np) => labelSelectorMatches((np.spec || {}).podSelector, labels))) {
      errFor(p.owner)('NetworkPolicy: got none selecting its pods, want one');
    }
  }

  // PDBs select something; HPAs and ScaledObjects target a workload
  for (const o of objs.filter((x) => x.kind === 'PodDisruptionBudget')) {
    if (!pods.some((p) => labelSelectorMatches((o.spec || {}).selector, (p.tpl.metadata || {}).labels))) {
      errFor(o)('selector: got no pod template, want one');
    }
  }
  for (const o of objs.filter((x) => x.kind === 'HorizontalPodAutoscaler' || x.kind === 'ScaledObject')) {
    const t = (o.spec || {}).scaleTargetRef || {};
    const kind = t.kind || 'Deployment';
    if (!objs.some((w) => w.kind === kind && (w.metadata || {}).name === t.name)) {
      errFor(o)(`scaleTargetRef: got ${kind}/${t.name}, want a workload of the output`);
    }
  }
  return { problems, count: objs.length };
}

function main(files) {
  if (files.length === 0) {
    process.stderr.write('usage: validate-k8s.js FILE...\n');
    return 2;
  }
  let bad = 0;
  for (const f of files) {
    const { problems, count } = checkFile(f);
    for (const p of problems) {
      process.stdout.write(p + '\n');
    }
    process.stdout.write(`validate-k8s: ${path.basename(f)}: ${count} objects, ` +
      `${problems.length ? problems.length + ' problem(s)' : 'ok'}\n`);
    bad += problems.length;
  }
  return bad ? 1 : 0;
}

process.exitCode = main(process.argv.slice(2));
