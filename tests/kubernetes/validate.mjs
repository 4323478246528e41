// validate.mjs - offline validation of deploy/kubernetes/, as TAP.
//
//   node validate.mjs MANIFEST_DIR
//
// Needs, in the environment, S2S_K8S_NPM: a directory where package.json
// here was installed (npm ci; test_manifests.sh does it), which provides
//  * kubernetes-models: validators compiled from the Kubernetes OpenAPI
//    schemas (types, required fields, enums, formats) for every built-in
//    kind, and TypeScript declarations listing every field of every type;
//  * yaml: the YAML parser.
// Three layers of checks, each able to fail on its own:
//  1. schema: every object of every file kustomization.yaml lists validates
//     against its kind's schema;
//  2. strict: no field the schema does not know (the API server would drop a
//     misspelt `readinesProbe` silently; kubeconform --strict rejects it too),
//     walked through the declarations' field lists;
//  3. the ConfigMap's seq2seqd.conf passes the built daemon's --check-config
//     (S2S_BUILDDIR/seq2seqd), model paths under /models mapped to the
//     built-in models of S2S_SRCDIR/models;
//  4. deployment rules of docs/deployment.md: probes, grace period versus
//     drain_timeout_s + preStop, security context, resources, labels and
//     selectors, the ConfigMap's bind/port/models against the Deployment.
// Then the same checks run on mutated copies (a misspelt field, a wrong
// type, a grace period shorter than the drain), each of which must fail.
import { createRequire } from "node:module";
import { readFileSync, existsSync, readdirSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { spawnSync } from "node:child_process";
import os from "node:os";
import path from "node:path";

const npm = process.env.S2S_K8S_NPM;
const dir = process.argv[2];
if (!npm || !dir) {
	console.log("1..1\nnot ok 1 - usage: S2S_K8S_NPM=DIR node validate.mjs MANIFEST_DIR");
	process.exit(1);
}
const require = createRequire(path.join(npm, "package.json"));
const YAML = require("yaml");
const modelsRoot = path.join(npm, "node_modules");

let n = 0, failed = 0;
function tap(ok, what, detail) {
	n++;
	if (!ok) {
		failed++;
		for (const line of String(detail || "").split("\n"))
			if (line) console.log("# " + line);
	}
	console.log(`${ok ? "ok" : "not ok"} ${n} - ${what}`);
}

// --- 1. schema: the compiled validator of the object's kind ---------------
function modelModule(apiVersion, kind) {
	// "apps/v1" -> kubernetes-models/apps/v1/KIND; "v1" -> kubernetes-models/v1/KIND
	return `kubernetes-models/${apiVersion}/${kind}`;
}
function schemaErrors(obj) {
	let Model;
	try {
		Model = require(modelModule(obj.apiVersion, obj.kind))[obj.kind];
	} catch (e) {
		return [`no schema for ${obj.apiVersion} ${obj.kind}`];
	}
	try {
		new Model(obj).validate();
		return [];
	} catch (e) {
		return [e.message];
	}
}

// --- 2. strict: field lists from the .d.ts declarations --------------------
const declCache = new Map();
function parseDecl(file) {
	if (declCache.has(file))
		return declCache.get(file);
	const text = readFileSync(file, "utf8");
	const imports = new Map();
	for (const m of text.matchAll(/^import \{ (\w+) \} from "([^"]+)";$/gm))
		imports.set(m[1], m[2]);
	const ifaces = new Map();
	for (const m of text.matchAll(/^export interface (\w+)[^{]*\{\n([\s\S]*?)^\}/gm)) {
		const fields = new Map();
		// A field: 4 spaces, "name", optional ?, a type up to ";" at the same
		// indentation (map types span lines: { [key: string]: T; }).
		for (const f of m[2].matchAll(/^ {4}"([^"]+)"\??: ([\s\S]*?);\n(?= {4}(?:"|\/\*\*)|$)/gm))
			fields.set(f[1], f[2].replace(/\s+/g, " ").trim());
		ifaces.set(m[1], fields);
	}
	const decl = { file, imports, ifaces };
	declCache.set(file, decl);
	return decl;
}
function resolveImport(decl, name) {
	const spec = decl.imports.get(name);
	if (!spec)
		return decl.ifaces.has(name) ? { decl, name } : null;
	const file = spec.startsWith(".") ? path.resolve(path.dirname(decl.file), spec + ".d.ts")
		: path.join(modelsRoot, spec + ".d.ts");
	if (!existsSync(file))
		return null;
	const d = parseDecl(file);
	// The declaration exports the interface as I<Kind> and aliases it.
	const local = [...d.ifaces.keys()].find((k) => k === name || name.endsWith(k.slice(1)));
	return local ? { decl: d, name: local } : null;
}
// Walks `value` as the type `type` of declaration `decl`; unknown fields go to `out`.
function strict(value, type, decl, where, out) {
	if (value === null || typeof value !== "object")
		return;
	let m;
	if ((m = /^Array<(.+)>$/.exec(type))) {
		if (Array.isArray(value))
			value.forEach((v, i) => strict(v, m[1], decl, `${where}[${i}]`, out));
		return;
	}
	if ((m = /^\{ \[key: string\]: (.+); \}$/.exec(type))) {
		for (const [k, v] of Object.entries(value))
			strict(v, m[1], decl, `${where}.${k}`, out);
		return;
	}
	if (!/^I\w+$/.test(type))
		return; // a primitive, a union or a type alias: schema layer's business
	const t = resolveImport(decl, type);
	if (!t)
		return;
	const fields = t.decl.ifaces.get(t.name);
	for (const [k, v] of Object.entries(value)) {
		if (!fields.has(k))
			out.push(`${where}.${k}: unknown field (${t.name} has ${[...fields.keys()].join(", ")})`);
		else
			strict(v, fields.get(k), t.decl, `${where}.${k}`, out);
	}
}
function strictErrors(obj) {
	const file = path.join(modelsRoot, modelModule(obj.apiVersion, obj.kind) + ".d.ts");
	if (!existsSync(file))
		return [`no declarations for ${obj.apiVersion} ${obj.kind}`];
	const decl = parseDecl(file);
	const out = [];
	strict(obj, "I" + obj.kind, decl, obj.kind, out);
	return out;
}

// --- 3. the deployment's own rules ----------------------------------------
function confValue(conf, key) {
	const m = new RegExp(`^\\s*${key.replace(/\./g, "\\.")}\\s*=\\s*(.*?)\\s*$`, "m").exec(conf);
	return m ? m[1] : undefined;
}
function ruleErrors(objs) {
	const errs = [];
	const need = (cond, msg) => { if (!cond) errs.push(msg); };
	const byKind = (k) => objs.filter((o) => o.kind === k);
	const [dep] = byKind("Deployment"), [svc] = byKind("Service"), [pdb] = byKind("PodDisruptionBudget");
	const [cm] = byKind("ConfigMap");
	need(dep && svc && pdb && cm, "need one Deployment, Service, PodDisruptionBudget and ConfigMap");
	if (!(dep && svc && pdb && cm))
		return errs;
	const spec = dep.spec || {}, pod = (spec.template || {}).spec || {};
	const c = (pod.containers || [])[0] || {};
	const labels = (spec.template.metadata || {}).labels || {};
	const matches = (sel) => sel && Object.entries(sel).every(([k, v]) => labels[k] === v);
	need(spec.replicas === 3, `replicas ${spec.replicas}, want 3`);
	need(matches(spec.selector && spec.selector.matchLabels), "Deployment selector does not match its pod labels");
	need(matches(svc.spec.selector), "Service selector does not match the pod labels");
	need(matches(pdb.spec.selector && pdb.spec.selector.matchLabels), "PDB selector does not match the pod labels");
	need(pdb.spec.maxUnavailable !== undefined || pdb.spec.minAvailable !== undefined, "PDB sets no budget");
	const probe = (p, pathWant) => p && p.httpGet && p.httpGet.path === pathWant;
	need(probe(c.startupProbe, "/readyz"), "startupProbe is not GET /readyz");
	need(probe(c.readinessProbe, "/readyz"), "readinessProbe is not GET /readyz");
	need(probe(c.livenessProbe, "/healthz"), "livenessProbe is not GET /healthz");
	const conf = (cm.data || {})["seq2seqd.conf"] || "";
	const drain = Number(confValue(conf, "drain_timeout_s") ?? 30);
	const pre = ((c.lifecycle || {}).preStop || {});
	const preSecs = pre.sleep ? pre.sleep.seconds
		: pre.exec && /sleep$/.test(pre.exec.command[0]) ? Number(pre.exec.command[1]) : NaN;
	need(Number.isFinite(preSecs) && preSecs > 0, "no preStop sleep");
	need(pod.terminationGracePeriodSeconds > drain + preSecs,
		`terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} <= drain_timeout_s ${drain} + preStop ${preSecs}`);
	const psc = pod.securityContext || {}, csc = c.securityContext || {};
	need(psc.runAsNonRoot === true || csc.runAsNonRoot === true, "runAsNonRoot is not true");
	need(csc.readOnlyRootFilesystem === true, "readOnlyRootFilesystem is not true");
	need(csc.allowPrivilegeEscalation === false, "allowPrivilegeEscalation is not false");
	need(JSON.stringify((csc.capabilities || {}).drop) === '["ALL"]', "capabilities do not drop ALL");
	const seccomp = (csc.seccompProfile || psc.seccompProfile || {}).type;
	need(seccomp === "RuntimeDefault", `seccompProfile ${seccomp}, want RuntimeDefault`);
	const res = c.resources || {};
	for (const k of ["requests", "limits"])
		for (const r of ["cpu", "memory"])
			need(res[k] && res[k][r] !== undefined, `resources.${k}.${r} missing`);
	const ann = (spec.template.metadata || {}).annotations || {};
	need(ann["prometheus.io/scrape"] === "true", "no prometheus.io/scrape annotation");
	const port = Number(confValue(conf, "port") ?? 8080);
	const cport = (c.ports || []).find((p) => p.name === "http") || {};
	need(cport.containerPort === port, `containerPort ${cport.containerPort} != config port ${port}`);
	need(String(ann["prometheus.io/port"]) === String(port), "prometheus.io/port is not the daemon's port");
	need(confValue(conf, "bind") === "0.0.0.0", "bind is not 0.0.0.0 (probes and the Service reach the pod IP)");
	// Every model path lies on a mounted volume; the config file is mounted where args say.
	const mounts = (c.volumeMounts || []).map((m) => m.mountPath);
	for (const m of conf.matchAll(/^\s*model\.[\w.-]+\s*=\s*(\S+)/gm))
		need(mounts.some((p) => m[1].startsWith(p + "/")), `model ${m[1]} is on no mounted volume`);
	const cfgArg = (c.args || []).find((a) => a.startsWith("--config="));
	need(cfgArg && mounts.some((p) => cfgArg.slice(9).startsWith(p + "/")), "--config names no mounted file");
	for (const v of pod.volumes || [])
		if (v.configMap)
			need(v.configMap.name === cm.metadata.name, `volume ${v.name} names ConfigMap ${v.configMap.name}`);
	return errs;
}

// --- the manifests ---------------------------------------------------------
function load(dirPath) {
	const kust = YAML.parse(readFileSync(path.join(dirPath, "kustomization.yaml"), "utf8"));
	const files = kust.resources || [];
	const objs = [];
	for (const f of files)
		for (const doc of YAML.parseAllDocuments(readFileSync(path.join(dirPath, f), "utf8"))) {
			if (doc.errors.length)
				throw new Error(`${f}: ${doc.errors[0].message}`);
			const o = doc.toJS();
			if (o)
				objs.push({ file: f, obj: o });
		}
	return { kust, files, objs };
}
function allErrors(objs) {
	const errs = [];
	for (const { file, obj } of objs)
		for (const e of [...schemaErrors(obj), ...strictErrors(obj)])
			errs.push(`${file}: ${e}`);
	return errs.concat(ruleErrors(objs.map((o) => o.obj)));
}

let loaded;
try {
	loaded = load(dir);
} catch (e) {
	tap(false, "the manifests parse", e.message);
	console.log(`1..${n}`);
	process.exit(1);
}
const { kust, files, objs } = loaded;
tap(kust.kind === "Kustomization" && files.every((f) => existsSync(path.join(dir, f))),
	"kustomization.yaml lists existing files", files.join(" "));
const unlisted = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f) && f !== "kustomization.yaml" && !files.includes(f));
tap(unlisted.length === 0, "every manifest is listed in kustomization.yaml", unlisted.join(" "));
for (const { file, obj } of objs) {
	const e1 = schemaErrors(obj);
	tap(e1.length === 0, `${file}: ${obj.kind} ${obj.metadata.name} matches the ${obj.apiVersion} schema`, e1.join("\n"));
	const e2 = strictErrors(obj);
	tap(e2.length === 0, `${file}: ${obj.kind} ${obj.metadata.name} has no unknown field`, e2.join("\n"));
}
// --config file of the ConfigMap, checked by the daemon itself.
{
	const cm = objs.find((o) => o.obj.kind === "ConfigMap").obj;
	const build = process.env.S2S_BUILDDIR, src = process.env.S2S_SRCDIR;
	const tmp = mkdtempSync(path.join(os.tmpdir(), "s2s-k8s-"));
	const conf = path.join(tmp, "seq2seqd.conf");
	writeFileSync(conf, cm.data["seq2seqd.conf"].replaceAll("/models/", `${src}/models/`));
	const r = spawnSync(path.join(build || ".", "seq2seqd"), ["--check-config", `--config=${conf}`],
		{ encoding: "utf8", env: { PATH: process.env.PATH } });
	rmSync(tmp, { recursive: true });
	tap(Boolean(build && src) && r.status === 0, "configmap.yaml: seq2seqd --check-config accepts seq2seqd.conf",
		(r.error ? String(r.error) : r.stderr) || "S2S_BUILDDIR and S2S_SRCDIR must be set");
}
const e3 = ruleErrors(objs.map((o) => o.obj));
tap(e3.length === 0, "deployment rules (probes, grace period, security, resources, selectors, config)", e3.join("\n"));

// --- negative controls: each mutation must be caught -----------------------
const mutations = [
	["misspelt readinessProbe", (d) => { const c = d.spec.template.spec.containers[0]; c.readinesProbe = c.readinessProbe; delete c.readinessProbe; }],
	["a field at the wrong level (containerPort in the container)", (d) => { d.spec.template.spec.containers[0].containerPort = 8080; }],
	["replicas as a string", (d) => { d.spec.replicas = "three"; }],
	["an unknown imagePullPolicy", (d) => { d.spec.template.spec.containers[0].imagePullPolicy = "Sometimes"; }],
	["a misspelt field deep inside (httpGet.paht)", (d) => { const g = d.spec.template.spec.containers[0].livenessProbe.httpGet; g.paht = g.path; }],
	["grace period shorter than the drain", (d) => { d.spec.template.spec.terminationGracePeriodSeconds = 20; }],
	["liveness probe on /readyz", (d) => { d.spec.template.spec.containers[0].livenessProbe.httpGet.path = "/readyz"; }],
	["root filesystem writable", (d) => { d.spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem = false; }],
];
for (const [what, mutate] of mutations) {
	const copy = objs.map(({ file, obj }) => ({ file, obj: structuredClone(obj) }));
	let errs;
	try {
		mutate(copy.find((o) => o.obj.kind === "Deployment").obj);
		errs = allErrors(copy);
	} catch (e) {
		// The manifest lacks what the mutation changes: already broken.
		errs = [`cannot apply the mutation: ${e.message}`];
	}
	tap(errs.length > 0 && !errs[0].startsWith("cannot apply"), `a broken Deployment is refused: ${what}`, errs.length ? errs[0] : "no error reported");
	if (errs.length && !errs[0].startsWith("cannot apply"))
		console.log(`#   (${errs[0].slice(0, 160)})`);
}
console.log(`1..${n}`);
process.exit(failed ? 1 : 0);
