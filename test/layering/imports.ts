/**
 * The runtime import graph of src/: for every module, the modules it loads (static imports and re-exports that are
 * not type-only, and dynamic import() calls), read with TypeScript's own parser from the sources.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

/** Every .ts file under `root`, as paths relative to `root`. */
export function sourceFiles(root: string, under = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(root, under))) {
    const path = join(under, name);
    if (statSync(join(root, path)).isDirectory()) out.push(...sourceFiles(root, path));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

function isTypeOnlyImport(node: ts.ImportDeclaration): boolean {
  const clause = node.importClause;
  if (clause === undefined) return false; // a side-effect import loads the module
  if (clause.isTypeOnly) return true;
  if (clause.name !== undefined) return false;
  const bindings = clause.namedBindings;
  if (bindings === undefined || ts.isNamespaceImport(bindings)) return false;
  return bindings.elements.length > 0 && bindings.elements.every((element) => element.isTypeOnly);
}

/** The runtime imports of each module under `root` (relative paths with .ts), local modules only. */
export function importGraph(root: string): Map<string, string[]> {
  return readImports(root).local;
}

/** The packages and built-ins (`node:fs`, `sharp`, ...) each module under `root` loads at run time. */
export function externalImports(root: string): Map<string, string[]> {
  return readImports(root).external;
}

function readImports(root: string): { local: Map<string, string[]>; external: Map<string, string[]> } {
  const graph = new Map<string, string[]>();
  const externals = new Map<string, string[]>();
  for (const file of sourceFiles(root)) {
    const text = readFileSync(join(root, file), 'utf8');
    const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
    const targets: string[] = [];
    const outside: string[] = [];
    const add = (specifier: string): void => {
      if (!specifier.startsWith('.')) {
        outside.push(specifier);
        return;
      }
      const target = relative(root, resolve(root, dirname(file), specifier)).replace(/\.js$/, '.ts');
      targets.push(target);
    };
    const visit = (node: ts.Node): void => {
      if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier) && !isTypeOnlyImport(node)) add(node.moduleSpecifier.text);
      else if (ts.isExportDeclaration(node) && node.moduleSpecifier !== undefined && ts.isStringLiteral(node.moduleSpecifier) && !node.isTypeOnly) add(node.moduleSpecifier.text);
      else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] !== undefined && ts.isStringLiteral(node.arguments[0])) add(node.arguments[0].text);
      ts.forEachChild(node, visit);
    };
    visit(source);
    graph.set(file, targets);
    externals.set(file, outside);
  }
  return { local: graph, external: externals };
}

/** The strongly connected components of more than one module (or a module importing itself): the import cycles. */
export function importCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const connect = (node: string): void => {
    index.set(node, counter);
    low.set(node, counter);
    counter++;
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!graph.has(next)) continue;
      if (!index.has(next)) {
        connect(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node)!, index.get(next)!));
      }
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1 || (graph.get(node) ?? []).includes(node)) cycles.push(component.sort());
    }
  };
  for (const node of [...graph.keys()].sort()) if (!index.has(node)) connect(node);
  return cycles;
}

/** The modules `start` loads, directly or through others. */
export function reachable(graph: ReadonlyMap<string, readonly string[]>, start: string): Set<string> {
  const seen = new Set<string>();
  const queue = [start];
  while (queue.length > 0) {
    const node = queue.pop()!;
    for (const next of graph.get(node) ?? []) {
      if (seen.has(next)) continue;
      seen.add(next);
      queue.push(next);
    }
  }
  return seen;
}

/** The layer of a module: its top folder under src/ ('torch', 'card', ...), '(root)' for a top-level utility, 'index' for src/index.ts. */
export function layerOf(module: string): string {
  if (module === 'index.ts') return 'index';
  return module.includes('/') ? module.split('/')[0]! : '(root)';
}

/**
 * The imports that go against `allowed` (layer → the layers it may import; a layer always imports itself), as
 * 'from -> to' strings, sorted.
 */
export function upwardImports(graph: ReadonlyMap<string, readonly string[]>, allowed: Readonly<Record<string, readonly string[]>>): string[] {
  const out: string[] = [];
  for (const [from, targets] of graph) {
    const layer = layerOf(from);
    const may = allowed[layer];
    if (may === undefined) throw new Error(`upwardImports: no rule for the layer of ${from} ('${layer}'); add it to the table`);
    for (const to of targets) {
      const target = layerOf(to);
      if (target !== layer && !may.includes(target)) out.push(`${from} -> ${to}`);
    }
  }
  return out.sort();
}
