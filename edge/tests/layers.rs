//! The edge's modules depend on each other one way: `routes` → `transition` → `live` /
//! `notify` → `view` → `store`, with `ctx`, `config`, `error`, `event`, `http` and `log`
//! below them, and only `lib.rs` imports `routes`. This test reads the sources, collects every
//! `crate::<module>` reference per top-level module, and fails on a cycle or on a module
//! other than the crate root reaching into `routes`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a source file belongs to (`routes/orders.rs` → `routes`).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap_or(file);
    let first = rel
        .components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .unwrap_or_default();
    first.trim_end_matches(".rs").to_owned()
}

/// Every `crate::name` in the text, plus `use crate::{a, b}` groups.
fn references(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let inner = group.split('}').next().unwrap_or_default();
                for item in inner.split(',') {
                    let name = item.trim().split("::").next().unwrap_or_default();
                    if !name.is_empty() {
                        out.insert(name.to_owned());
                    }
                }
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        }
    }
    out
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(&src, f)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let from = module_of(&src, file);
        let text = fs::read_to_string(file).unwrap_or_default();
        let targets = graph.entry(from.clone()).or_default();
        for to in references(&text) {
            if to != from && modules.contains(&to) {
                targets.insert(to);
            }
        }
    }
    graph
}

fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn modules_depend_one_way() {
    let graph = graph();
    // `lib` is the crate root: it wires everything and may name any module.
    let mut without_root = graph.clone();
    without_root.remove("lib");
    assert_eq!(find_cycle(&without_root), None, "module graph: {graph:#?}");
}

#[test]
fn only_the_crate_root_imports_routes() {
    let graph = graph();
    let importers: Vec<&String> = graph
        .iter()
        .filter(|(from, to)| {
            from.as_str() != "lib" && from.as_str() != "routes" && to.contains("routes")
        })
        .map(|(from, _)| from)
        .collect();
    assert!(importers.is_empty(), "{importers:?} import routes");
}

#[test]
fn the_checker_sees_a_cycle_when_there_is_one() {
    let mut graph = BTreeMap::new();
    graph.insert("a".to_owned(), BTreeSet::from(["b".to_owned()]));
    graph.insert("b".to_owned(), BTreeSet::from(["a".to_owned()]));
    assert!(find_cycle(&graph).is_some());
    assert_eq!(
        references("use crate::{ctx::Ctx, store::Store};\nlet x = crate::view::view(r);"),
        BTreeSet::from(["ctx".to_owned(), "store".to_owned(), "view".to_owned()])
    );
}
