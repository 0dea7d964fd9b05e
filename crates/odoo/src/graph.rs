//! The module dependency graph: which modules load, at which depth, in which order.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

/// A candidate for the graph: a name and its dependencies.
#[derive(Debug, Clone)]
pub struct GraphNode {
    /// Module name.
    pub name: String,
    /// Names it depends on.
    pub depends: Vec<String>,
}

/// A module left out of the graph, with its dependencies that are not in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Excluded {
    /// Module name.
    pub name: String,
    /// Direct dependencies missing from the graph (absent, not installable, or excluded themselves).
    pub missing: Vec<String>,
}

/// The loadable modules in load order (depth, then name) and those left out.
#[derive(Debug, Clone, Default)]
pub struct ModuleGraph {
    /// `(name, depth)` in Odoo's load order.
    pub order: Vec<(String, usize)>,
    /// Modules whose dependencies cannot all be loaded, by name.
    pub excluded: Vec<Excluded>,
    depth: HashMap<String, usize>,
}

impl ModuleGraph {
    /// The depth of a module in the graph (`base` is 0).
    pub fn depth(&self, name: &str) -> Option<usize> {
        self.depth.get(name).copied()
    }

    /// Names of the modules depending on `name`, directly or not.
    pub fn dependents(&self, nodes: &[GraphNode], name: &str) -> BTreeSet<String> {
        let mut rev: HashMap<&str, Vec<&str>> = HashMap::new();
        for n in nodes.iter().filter(|n| self.depth.contains_key(&n.name)) {
            for d in &n.depends {
                rev.entry(d.as_str()).or_default().push(&n.name);
            }
        }
        let mut out = BTreeSet::new();
        let mut todo = vec![name];
        while let Some(cur) = todo.pop() {
            for child in rev.get(cur).into_iter().flatten() {
                if out.insert(child.to_string()) {
                    todo.push(child);
                }
            }
        }
        out
    }
}

/// Builds the graph like Odoo's `Graph.add_modules`: a module enters when all
/// its dependencies are in; its depth is one more than its deepest dependency.
pub fn build_graph(nodes: &[GraphNode]) -> ModuleGraph {
    let by_name: BTreeMap<&str, &GraphNode> = nodes.iter().map(|n| (n.name.as_str(), n)).collect();
    let mut depth: HashMap<String, usize> = HashMap::new();
    let mut pending: Vec<&GraphNode> = by_name.values().copied().collect();
    // Fixed point: each pass adds every module whose dependencies are all placed.
    loop {
        let before = pending.len();
        pending.retain(|n| {
            let deps: Option<Vec<usize>> =
                n.depends.iter().map(|d| depth.get(d).copied()).collect();
            match deps {
                Some(ds) => {
                    depth.insert(n.name.clone(), ds.iter().max().map_or(0, |m| m + 1));
                    false
                }
                None => true,
            }
        });
        if pending.len() == before {
            break;
        }
    }
    let mut order: Vec<(String, usize)> = depth.iter().map(|(n, d)| (n.clone(), *d)).collect();
    order.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    let excluded = pending
        .iter()
        .map(|n| Excluded {
            name: n.name.clone(),
            missing: n
                .depends
                .iter()
                .filter(|d| !depth.contains_key(*d))
                .cloned()
                .collect(),
        })
        .collect();
    ModuleGraph {
        order,
        excluded,
        depth,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, deps: &[&str]) -> GraphNode {
        GraphNode {
            name: name.into(),
            depends: deps.iter().map(|d| d.to_string()).collect(),
        }
    }

    #[test]
    fn depth_is_one_more_than_the_deepest_dependency() {
        let g = build_graph(&[
            node("base", &[]),
            node("web", &["base"]),
            node("mail", &["base", "web"]),
            node("crm", &["mail", "base"]),
            node("account", &["base"]),
        ]);
        assert_eq!(g.depth("base"), Some(0));
        assert_eq!(g.depth("mail"), Some(2));
        assert_eq!(g.depth("crm"), Some(3));
        let names: Vec<_> = g.order.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["base", "account", "web", "mail", "crm"]);
    }

    #[test]
    fn missing_dependencies_exclude_dependants_transitively() {
        let g = build_graph(&[
            node("base", &[]),
            node("a", &["base", "ghost"]),
            node("b", &["a"]),
            node("c", &["base"]),
            node("x", &["y"]),
            node("y", &["x"]),
        ]);
        assert_eq!(g.order.len(), 2);
        let ex: Vec<_> = g
            .excluded
            .iter()
            .map(|e| (e.name.as_str(), e.missing.clone()))
            .collect();
        assert!(ex.contains(&("a", vec!["ghost".to_string()])));
        assert!(ex.contains(&("b", vec!["a".to_string()])));
        assert!(ex.iter().any(|(n, _)| *n == "x"));
    }

    #[test]
    fn dependents_are_transitive() {
        let nodes = [
            node("base", &[]),
            node("a", &["base"]),
            node("b", &["a"]),
            node("c", &["base"]),
        ];
        let g = build_graph(&nodes);
        let d: Vec<_> = g.dependents(&nodes, "a").into_iter().collect();
        assert_eq!(d, ["b"]);
        assert_eq!(g.dependents(&nodes, "base").len(), 3);
    }
}
